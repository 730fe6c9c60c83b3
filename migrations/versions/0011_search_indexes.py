"""Full-text search over interactions, and customers found by phone number.

- ``idx_interactions_search``: GIN over
  ``to_tsvector('english', COALESCE(subject, '') || ' ' || COALESCE(description, ''))``,
  the same shape as the spec's indexes on customers, leads and tasks, so global
  search (crm/search/service.py) covers all four kinds of record through an index.
- ``idx_customers_phone_digits``: a btree over the phone's digits, reversed, so
  a search for the number's last digits ("555 010 0100", "+1 555 010 0100") is a
  prefix match the index serves (``text_pattern_ops``), whatever the punctuation.

Revision ID: 0011_search_indexes
Revises: 0010_audit_trail
Create Date: 2026-11-25
"""

from alembic import op

revision = "0011_search_indexes"
down_revision = "0010_audit_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX idx_interactions_search ON interactions USING gin "
        "(to_tsvector('english', COALESCE(subject, '') || ' ' || COALESCE(description, '')))"
    )
    op.execute(
        "CREATE INDEX idx_customers_phone_digits ON customers "
        "(reverse(regexp_replace(phone, '[^0-9]', '', 'g')) text_pattern_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX idx_customers_phone_digits")
    op.execute("DROP INDEX idx_interactions_search")
