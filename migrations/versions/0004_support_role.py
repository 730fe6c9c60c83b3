"""Add the application's fourth role, ``support``, to user_role.

Downgrade cannot drop an enum value in place, so it rebuilds the type. Users
who had the support role become plain ``user`` (sales reps), the role with the
fewest rights, so a downgrade never widens anyone's access; it says how many.

Revision ID: 0004_support_role
Revises: 0003_idx_leads_active_sync
Create Date: 2026-11-25
"""

from alembic import op
from sqlalchemy import text

revision = "0004_support_role"
down_revision = "0003_idx_leads_active_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'support'")


def downgrade() -> None:
    bind = op.get_bind()
    moved = bind.execute(text("UPDATE users SET role = 'user' WHERE role = 'support'")).rowcount
    if moved:
        print(f"0004 downgrade: {moved} support user(s) now have the role 'user'")
    op.execute("ALTER TYPE user_role RENAME TO user_role_with_support")
    op.execute("CREATE TYPE user_role AS ENUM ('user', 'manager', 'admin')")
    op.execute("ALTER TABLE users ALTER COLUMN role DROP DEFAULT")
    op.execute("ALTER TABLE users ALTER COLUMN role TYPE user_role USING role::text::user_role")
    op.execute("ALTER TABLE users ALTER COLUMN role SET DEFAULT 'user'")
    op.execute("DROP TYPE user_role_with_support")
