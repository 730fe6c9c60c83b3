"""The spec's example migration (20231201_add_customer_industry): valid industries.

The spec's CREATE TABLE already has customers.industry and idx_customers_industry,
so the example's first two statements are written idempotently and only the check
is new. Downgrade removes only the check: the column and index belong to 0001.

Revision ID: 0002_customer_industry_check
Revises: 0001_spec_schema
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002_customer_industry_check"
down_revision = "0001_spec_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE customers ADD COLUMN IF NOT EXISTS industry VARCHAR(100)")
    op.execute("CREATE INDEX IF NOT EXISTS idx_customers_industry ON customers(industry)")
    op.execute(
        """
        ALTER TABLE customers
        ADD CONSTRAINT chk_customers_industry
        CHECK (industry IS NULL OR industry IN (
            'Technology', 'Healthcare', 'Finance', 'Retail', 'Manufacturing',
            'Education', 'Real Estate', 'Consulting', 'Other'
        ))
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE customers DROP CONSTRAINT chk_customers_industry")
