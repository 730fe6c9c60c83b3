"""What Alembic's autogenerate compares: the app's schema, not procrastinate's (0032)."""

from __future__ import annotations


def include_object(
    obj: object, name: str | None, type_: str, _reflected: bool, _other: object
) -> bool:
    """False for procrastinate's tables and what is on them: its own schema file owns them."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    names = (name or "", getattr(table, "name", "") or "")
    return not any(n.startswith("procrastinate_") for n in names)
