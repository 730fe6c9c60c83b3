"""``idx_audit_logs_created_at_id``: the audit list's order, even after a bulk change.

The audit browser lists newest first, ``ORDER BY created_at DESC, id DESC``.
Every audit row of one transaction has the same ``created_at`` (the
transaction's start), so after a 100,000-row import the spec's single-column
index left PostgreSQL sorting all 100,000 tied rows to find the first 20 (the
list took 140 ms instead of 15). With ``id`` in the index the order is read
straight off it, however large a transaction was.

Revision ID: 0015_audit_list_order
Revises: 0014_csv_uploads
Create Date: 2026-11-25
"""

from alembic import op

revision = "0015_audit_list_order"
down_revision = "0014_csv_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_audit_logs_created_at_id", "audit_logs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("idx_audit_logs_created_at_id", table_name="audit_logs")
