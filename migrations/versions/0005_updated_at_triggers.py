"""Let the database keep ``updated_at`` true on every table that has it.

A BEFORE UPDATE trigger stamps CURRENT_TIMESTAMP, so raw SQL, bulk updates and
psql sessions move it as well as the ORM. An UPDATE that changes no value leaves
the stamp alone, so "no change" stays "no change" (the audit trail relies on it).

Revision ID: 0005_updated_at_triggers
Revises: 0004_support_role
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005_updated_at_triggers"
down_revision = "0004_support_role"
branch_labels = None
depends_on = None

# lead_stages has no updated_at in the spec, so it gets no trigger.
TABLES = ("users", "customers", "leads", "tasks", "interactions")

FUNCTION = """
CREATE FUNCTION crm_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        NEW.updated_at := CURRENT_TIMESTAMP;
    END IF;
    RETURN NEW;
END;
$$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION crm_touch_updated_at()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER trg_{table}_updated_at ON {table}")
    op.execute("DROP FUNCTION crm_touch_updated_at()")
