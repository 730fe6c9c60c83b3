"""``backup_checks``: the restore drills' results (issue 19, part 4).

Each ``flask crm backup --verify`` (or the weekly job) restores the newest
archive into a scratch database, compares every table's row count and checksum
with the archive's manifest, drops the scratch database and writes one row here:
when, which archive, whether it matched, what differed, and how long it took.
``/healthz`` and the admin home show the newest.

Revision ID: 0033_backup_checks
Revises: 0032_job_queue
Create Date: 2026-12-01
"""

from alembic import op

revision = "0033_backup_checks"
down_revision = "0032_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE backup_checks (
    id SERIAL PRIMARY KEY,
    checked_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    archive VARCHAR(500) NOT NULL,
    ok BOOLEAN NOT NULL,
    detail TEXT,
    tables INTEGER NOT NULL DEFAULT 0,
    total_rows BIGINT NOT NULL DEFAULT 0,
    seconds NUMERIC(10, 1) NOT NULL DEFAULT 0
);
CREATE INDEX idx_backup_checks_checked_at ON backup_checks (checked_at);
"""
    )
    # The app's role gets the grants it has on customers (as 0023's _copy_grants does).
    op.execute(
        """
DO $$
DECLARE g record;
BEGIN
    FOR g IN SELECT DISTINCT a.privilege_type, r.rolname
               FROM pg_class AS c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
               JOIN pg_roles AS r ON r.oid = a.grantee
              WHERE c.relname = 'customers' AND c.relnamespace = current_schema()::regnamespace
                AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON backup_checks TO %I', g.privilege_type, g.rolname);
    END LOOP;
END $$;
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE backup_checks")
