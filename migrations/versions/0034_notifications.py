"""Task reminders (issue 19, part 6): in-app notifications and the email digest's record.

- ``notifications``: one per person and event: a task assigned to them by someone
  else (``assigned``), due today (``due``), gone overdue (``overdue``). Unread
  while ``read_at`` is NULL; the navbar's bell counts those through
  ``idx_notifications_unread``. ``day`` and the unique index make the morning job
  safe to run twice (one due and one overdue notice per task and day).
- ``trg_tasks_notify_assignee``: written by the database on every assignment by any
  path (forms, bulk actions, imports, SQL): an INSERT with an assignee, or a change
  of ``assigned_to``, of an open task notifies the new assignee unless they assigned
  it themselves (``crm.user_id``, the app's actor setting).
- ``users.email_reminders``: whether the person wants the daily email digest
  (on by default; off on their profile). ``email_digests``: the days each person's
  digest went, so a retried job never mails twice.

Revision ID: 0034_notifications
Revises: 0033_backup_checks
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0034_notifications"
down_revision = "0033_backup_checks"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    kind VARCHAR(20) NOT NULL,
    task_id INTEGER,
    day DATE NOT NULL DEFAULT CURRENT_DATE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    read_at TIMESTAMP,
    CONSTRAINT fk_notifications_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_notifications_task FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE,
    CONSTRAINT chk_notifications_kind CHECK (kind IN ('assigned', 'due', 'overdue'))
);
CREATE INDEX idx_notifications_user ON notifications (user_id, id);
CREATE INDEX idx_notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX idx_notifications_task ON notifications (task_id);
CREATE UNIQUE INDEX uk_notifications_reminder ON notifications (user_id, task_id, kind, day)
    WHERE kind IN ('due', 'overdue');
CREATE TABLE email_digests (
    user_id INTEGER NOT NULL,
    day DATE NOT NULL,
    sent_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, day),
    CONSTRAINT fk_email_digests_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
"""

NOTIFY = """
CREATE FUNCTION crm_notify_assignee() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    actor integer := CAST(NULLIF(current_setting('crm.user_id', true), '') AS integer);
BEGIN
    IF NEW.assigned_to IS DISTINCT FROM actor
       AND NEW.status IN ('pending', 'in_progress')  -- a closed task is nobody's news
       AND (TG_OP = 'INSERT' OR NEW.assigned_to IS DISTINCT FROM OLD.assigned_to) THEN
        INSERT INTO notifications (user_id, kind, task_id) VALUES (NEW.assigned_to, 'assigned', NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trg_tasks_notify_assignee AFTER INSERT OR UPDATE OF assigned_to ON tasks
FOR EACH ROW WHEN (NEW.assigned_to IS NOT NULL) EXECUTE FUNCTION crm_notify_assignee();
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(NOTIFY)
    op.add_column(
        "users", sa.Column("email_reminders", sa.Boolean(), nullable=False, server_default="true")
    )
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute(grants("customers", "notifications", ("customers_id_seq", "notifications_id_seq")))
    op.execute(grants("customers", "email_digests"))


def downgrade() -> None:
    op.drop_column("users", "email_reminders")
    op.execute("DROP TRIGGER trg_tasks_notify_assignee ON tasks")
    op.execute("DROP FUNCTION crm_notify_assignee()")
    op.execute("DROP TABLE email_digests, notifications")
