"""``idx_tasks_open_due_date``: the open tasks by due date, for the home page's lists.

The home page lists the longest-overdue open tasks (``status IN ('pending',
'in_progress') AND due_date < now() ORDER BY due_date LIMIT 10``). With only
``idx_tasks_due_date``, PostgreSQL walks every task in due-date order and skips
the closed ones; three years of history put 486,000 completed or cancelled tasks
before the first open one at scale 1: 940 ms for the admin's home page. A
partial index of the open tasks alone starts at the first one (under 1 ms), and
stays small: closed tasks, the bulk of the table, are not in it.

Revision ID: 0020_open_tasks_due_date
Revises: 0019_rule_search_indexes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0020_open_tasks_due_date"
down_revision = "0019_rule_search_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX idx_tasks_open_due_date ON tasks (due_date, id) "
        "WHERE status IN ('pending', 'in_progress')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX idx_tasks_open_due_date")
