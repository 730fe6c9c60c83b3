"""procrastinate's schema in the database is the one the installed library expects."""

from __future__ import annotations

from procrastinate.schema import SchemaManager
from sqlalchemy import Connection, text

from crm import PROJECT_ROOT

VENDORED = PROJECT_ROOT / "migrations" / "sql" / "procrastinate-3.10.0.sql"


def test_the_vendored_schema_is_the_installed_librarys():
    # A new procrastinate version needs a migration of its own (its sql/migrations).
    assert VENDORED.read_text() == SchemaManager.get_schema()


def test_the_librarys_tables_functions_and_triggers_are_there(db_connection: Connection):
    tables = db_connection.scalars(
        text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%' ORDER BY 1")
    ).all()
    assert tables == [
        "procrastinate_events",
        "procrastinate_jobs",
        "procrastinate_periodic_defers",
        "procrastinate_workers",
    ]
    triggers = db_connection.scalar(
        text(
            "SELECT count(*) FROM pg_trigger "
            "WHERE tgrelid = 'procrastinate_jobs'::regclass AND NOT tgisinternal"
        )
    )
    assert triggers == 7
