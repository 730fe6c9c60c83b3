"""``csv_uploads``: CSV files between upload and import, in the database.

The import is upload -> column mapping -> validation -> import, over several
requests that any worker may serve, so the file waits in PostgreSQL rather
than on one machine's disk. Not audited: it is not business data, and each
import's rows are audited when they land.

Revision ID: 0014_csv_uploads
Revises: 0013_retention
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_csv_uploads"
down_revision = "0013_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csv_uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_csv_uploads_user"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("settings", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("CURRENT_TIMESTAMP")),
    )
    op.create_index("idx_csv_uploads_created_at", "csv_uploads", ["created_at"])


def downgrade() -> None:
    op.drop_index("idx_csv_uploads_created_at", table_name="csv_uploads")
    op.drop_table("csv_uploads")
