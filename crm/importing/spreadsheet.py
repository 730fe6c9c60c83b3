"""Cells written to CSV files people open in spreadsheets, and read back by the import.

A cell a spreadsheet would evaluate ("=HYPERLINK(…)", "@SUM(…)", "+cmd|…") gets a
leading apostrophe, which makes it text (OWASP "CSV injection"). A number or a
phone number ("+49 30 1234567", "-12.50") is left exactly as stored: at worst a
spreadsheet computes it, it never runs anything. The import takes the apostrophe
off again (``unguarded``), so export then import gives back every value unchanged.
"""

from __future__ import annotations

import re

# A spreadsheet evaluates a cell starting with one of these.
FORMULA_STARTS = ("=", "@", "\t", "\r")
SIGNS = ("+", "-")
# Digits, spaces and + - ( ) . only: a number or a phone number, never a formula.
PLAIN_NUMBER = re.compile(r"[\d\s()+.-]*")
GUARD = "'"


def needs_guard(value: str) -> bool:
    """Whether a spreadsheet could evaluate ``value`` as a formula.

    A value starting with the guard itself is guarded when the rest is, so that
    taking one apostrophe off on import always gives back what was stored
    ("'=x" is written "''=x" and read back "'=x").
    """
    rest = value.lstrip(GUARD)  # any number of guards: what follows them decides
    if rest.startswith(FORMULA_STARTS):
        return True
    if rest.startswith(SIGNS):
        return not PLAIN_NUMBER.fullmatch(rest)
    return False


def csv_safe(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs."""
    return GUARD + value if needs_guard(value) else value


def unguarded(cell: str) -> str:
    """A cell of a file this app (or csv_safe) wrote, as the value it stands for."""
    if cell.startswith(GUARD) and needs_guard(cell[1:]):
        return cell[1:]
    return cell
