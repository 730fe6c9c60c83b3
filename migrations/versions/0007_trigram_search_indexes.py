"""pg_trgm GIN indexes, so list searches (ILIKE '%term%') use an index.

Flask-Admin searches a list with ``column ILIKE '%term%'`` on each searchable
column; a btree cannot serve a leading wildcard, a trigram GIN index can. One
index per searchable text column of the lists: customers' name, company and
email; leads' title; tasks' title; interactions' subject; users' name and email.
pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner may
create it.

Revision ID: 0007_trigram_search_indexes
Revises: 0006_sign_in_security
Create Date: 2026-11-25
"""

from alembic import op

revision = "0007_trigram_search_indexes"
down_revision = "0006_sign_in_security"
branch_labels = None
depends_on = None

TRIGRAM_COLUMNS = {
    "customers": ("name", "company", "email"),
    "leads": ("title",),
    "tasks": ("title",),
    "interactions": ("subject",),
    "users": ("name", "email"),
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.execute(
                f"CREATE INDEX idx_{table}_{column}_trgm ON {table} "
                f"USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.execute(f"DROP INDEX idx_{table}_{column}_trgm")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
