"""The open tasks by due date (all, and per rule column), for the home page's lists.

The home page lists the longest-overdue open tasks (``status IN ('pending',
'in_progress') AND due_date < now() ORDER BY due_date LIMIT 10``). With only
``idx_tasks_due_date``, PostgreSQL walks every task in due-date order and skips
the closed ones; three years of history put 486,000 completed or cancelled tasks
before the first open one at scale 1: 940 ms for the admin's home page. A
partial index of the open tasks alone starts at the first one (under 1 ms), and
stays small: closed tasks, the bulk of the table, are not in it.

A rep's list and its count ("1,000+ overdue") need only their own open tasks:
one partial index per part of their rule (``user_id``, ``assigned_to``), read as
two short ranges (a big book's count: 19 -> 5 ms).

Revision ID: 0020_open_tasks_due_date
Revises: 0019_rule_search_indexes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0020_open_tasks_due_date"
down_revision = "0019_rule_search_indexes"
branch_labels = None
depends_on = None


OPEN = "WHERE status IN ('pending', 'in_progress')"
# index: its columns
INDEXES = {
    "idx_tasks_open_due_date": "due_date, id",
    "idx_tasks_open_user_due_date": "user_id, due_date, id",
    "idx_tasks_open_assigned_due_date": "assigned_to, due_date, id",
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON tasks ({columns}) {OPEN}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
