"""The job queue: procrastinate's tables in this database, and what the app keeps per job.

Issue 19, part 1. Background work (imports, backups, retention, reminders) runs
as procrastinate jobs: a job is a row in ``procrastinate_jobs``, so it is
enqueued in the same transaction as the change that causes it, the embedded
database serves it with no new server, and any number of workers on any number
of machines share the work (``flask crm worker``).

- procrastinate 3.10.0's schema, as the library ships it
  (``migrations/sql/procrastinate-3.10.0.sql``, vendored so this migration never
  changes with the installed version; a later version brings its own migration
  from the library's ``sql/migrations``).
- ``job_runs``: one row per job the app started: who asked for it, what it is
  (a title a person reads), its progress (the step it is at, rows done of rows
  total), its result
  (JSON) and the last error it raised (the library keeps no error text). It goes
  with its job.

The app's role gets on both the grants it has on ``customers``.

Revision ID: 0032_job_queue
Revises: 0031_two_factor_sessions
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0032_job_queue"
down_revision = "0031_two_factor_sessions"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).parent.parent / "sql" / "procrastinate-3.10.0.sql"
PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)
JOB_RUNS = """
CREATE TABLE job_runs (
    job_id BIGINT PRIMARY KEY,
    user_id INTEGER,
    title VARCHAR(200) NOT NULL,
    step VARCHAR(100),
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    result JSONB,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_job_runs_user ON job_runs (user_id, job_id);
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(SCHEMA.read_text())
    op.execute(JOB_RUNS)
    grants = _migration("0023_exchange_rates.py")._copy_grants
    for table in PROCRASTINATE_TABLES:
        op.execute(grants("customers", table, ("customers_id_seq", f"{table}_id_seq")))
    op.execute(grants("customers", "job_runs"))


def downgrade() -> None:
    op.execute("DROP TABLE job_runs")
    op.execute(f"DROP TABLE {', '.join(PROCRASTINATE_TABLES)} CASCADE")
    op.execute(
        """
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc AS p
              WHERE p.proname LIKE 'procrastinate\\_%' AND p.pronamespace = current_schema()::regnamespace
    LOOP
        EXECUTE format('DROP FUNCTION %s', f.signature);
    END LOOP;
END $$;
"""
    )
    op.execute(
        "DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type, "
        "procrastinate_job_status"
    )
