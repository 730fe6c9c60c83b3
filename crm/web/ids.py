"""Row ids read from addresses and forms."""

from __future__ import annotations

# PostgreSQL's integer: every id column. A larger number would make the query fail.
MAX_ID = 2**31 - 1


def row_id(value: object) -> int | None:
    """``value`` as a row id, or None when no row can have it (not ASCII digits, too large)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None
