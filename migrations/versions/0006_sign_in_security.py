"""Sign-in security on users: lockout counters, a session token, a last-admin guard.

- failed_login_count, lockout_count, locked_until: 10 consecutive failures lock
  an account for 15 minutes, doubling with each repeat (crm/security/lockout.py).
- session_token: stored in every session cookie and compared on each request.
  A trigger replaces it whenever the password changes or the user is
  deactivated, so all of that user's sessions end, whichever path (the app, a
  script, psql) made the change. Signing out replaces it too.
- The last active admin cannot be demoted, deactivated or deleted: statement
  triggers refuse any UPDATE or DELETE after which no active admin remains,
  when there was one before.

Revision ID: 0006_sign_in_security
Revises: 0005_updated_at_triggers
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_sign_in_security"
down_revision = "0005_updated_at_triggers"
branch_labels = None
depends_on = None

NEW_TOKEN = "replace(gen_random_uuid()::text, '-', '')"

ROTATE_TOKEN = f"""
CREATE FUNCTION crm_rotate_session_token() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR (OLD.is_active IS TRUE AND NEW.is_active IS NOT TRUE) THEN
        NEW.session_token := {NEW_TOKEN};
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_users_rotate_session_token
BEFORE UPDATE OF password_hash, is_active ON users
FOR EACH ROW EXECUTE FUNCTION crm_rotate_session_token();
"""

LAST_ADMIN = """
CREATE FUNCTION crm_keep_an_active_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows WHERE role = 'admin' AND is_active IS TRUE)
       AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active IS TRUE) THEN
        RAISE EXCEPTION 'the last active admin cannot be demoted, deactivated or deleted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'chk_users_last_admin';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trg_users_last_admin_update AFTER UPDATE ON users
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION crm_keep_an_active_admin();
CREATE TRIGGER trg_users_last_admin_delete AFTER DELETE ON users
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION crm_keep_an_active_admin();
"""


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("failed_login_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "users", sa.Column("lockout_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("locked_until", sa.DateTime(), nullable=True))
    op.add_column(
        "users",
        sa.Column(
            "session_token", sa.String(64), nullable=False, server_default=sa.text(NEW_TOKEN)
        ),
    )
    op.execute(ROTATE_TOKEN)
    op.execute(LAST_ADMIN)


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_users_last_admin_delete ON users")
    op.execute("DROP TRIGGER trg_users_last_admin_update ON users")
    op.execute("DROP FUNCTION crm_keep_an_active_admin()")
    op.execute("DROP TRIGGER trg_users_rotate_session_token ON users")
    op.execute("DROP FUNCTION crm_rotate_session_token()")
    for column in ("session_token", "locked_until", "lockout_count", "failed_login_count"):
        op.drop_column("users", column)
