"""A row version on every editable table, for optimistic locking.

``version`` starts at 1 and a BEFORE UPDATE trigger adds one whenever a row
really changes (whatever made the change: the admin, a script, psql). An edit
form carries the version it was opened with; saving checks it against the row
(locked FOR UPDATE), so a second person's save over a change they have not seen
is refused instead of silently overwriting it (crm/admin/base.py).

Adding a column with a constant default does not rewrite the table (PostgreSQL
11+), so this is quick even on millions of rows.

Revision ID: 0008_row_versions
Revises: 0007_trigram_search_indexes
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_row_versions"
down_revision = "0007_trigram_search_indexes"
branch_labels = None
depends_on = None

TABLES = ("users", "customers", "lead_stages", "leads", "tasks", "interactions")

FUNCTION = """
CREATE FUNCTION crm_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END;
$$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    for table in TABLES:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        op.execute(
            f"CREATE TRIGGER trg_{table}_version BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION crm_bump_version()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER trg_{table}_version ON {table}")
        op.drop_column(table, "version")
    op.execute("DROP FUNCTION crm_bump_version()")
