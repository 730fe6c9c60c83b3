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

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0033_backup_checks"
down_revision = "0032_job_queue"
branch_labels = None
depends_on = None


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute(grants("customers", "backup_checks", ("customers_id_seq", "backup_checks_id_seq")))


def downgrade() -> None:
    op.execute("DROP TABLE backup_checks")
