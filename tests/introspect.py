"""Read the live schema from PostgreSQL's catalogs (what the database really has)."""

from __future__ import annotations

from sqlalchemy import Connection, text

TABLES = ("users", "customers", "lead_stages", "leads", "tasks", "interactions", "audit_logs")
# procrastinate's own schema (migration 0032, the library's file as shipped) is left
# out of what these helpers report: tests/jobs/test_schema.py checks it on its own.


def columns(conn: Connection, table: str) -> list[tuple[str, str, bool, str | None]]:
    """(name, type, NOT NULL, default) in column order."""
    rows = conn.execute(
        text(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """
        ),
        {"table": table},
    )
    return [tuple(row) for row in rows]


def constraints(conn: Connection, kind: str) -> dict[str, tuple[str, str]]:
    """{name: (table, definition)} for constraints of one kind (f, c, u, p)."""
    rows = conn.execute(
        text(
            """
            SELECT con.conname, rel.relname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
            JOIN pg_namespace ns ON ns.oid = rel.relnamespace
            WHERE ns.nspname = 'public' AND con.contype = CAST(:kind AS "char")
              AND rel.relname NOT LIKE 'procrastinate\\_%'
            """
        ),
        {"kind": kind},
    )
    return {name: (table, definition) for name, table, definition in rows}


def indexes(conn: Connection) -> dict[str, str]:
    """{index name: CREATE INDEX statement} for every index in the public schema."""
    rows = conn.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename NOT LIKE 'procrastinate\\_%'"
        )
    )
    return {key: value for key, value in rows}


def enums(conn: Connection) -> dict[str, list[str]]:
    """{type name: labels in order} for every enum type."""
    rows = conn.execute(
        text(
            """
            SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
            FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
            WHERE t.typname NOT LIKE 'procrastinate\\_%'
            GROUP BY t.typname
            """
        )
    )
    return {key: value for key, value in rows}


def triggers(conn: Connection) -> dict[str, str]:
    """{trigger name: table} for user-defined triggers."""
    rows = conn.execute(
        text(
            "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid::regclass::text NOT LIKE 'procrastinate\\_%'"
        )
    )
    return {key: value for key, value in rows}
