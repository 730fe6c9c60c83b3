"""Two-factor sign-in, recovery codes and one record per signed-in session (issue 18).

- ``users`` gains ``totp_secret`` (the TOTP secret, encrypted by the app with a
  key from the environment: the database never sees it in the clear),
  ``totp_enabled_at`` (when two-factor was turned on; NULL: off) and
  ``totp_last_step`` (the 30-second step of the last code accepted, so a code is
  accepted once). The audit trigger never writes these three: turning two-factor
  on or off is an audit row of its own, written by the app, and a secret must
  never reach an audit row.
- ``recovery_codes``: ten single-use codes per user, stored as SHA-256 digests
  (the codes are random, 60 bits each, so a slow hash adds nothing), and when each
  was used.
- ``user_sessions``: one row per signed-in browser: a digest of the secret its
  cookie holds, when it signed in, when it was last seen, its address and
  browser. A request is signed in only while its row exists, so ending a session
  (deleting the row) works on the next request on every worker and machine.
  When the user's ``session_token`` changes (a new password or deactivation, by
  any path: migration 0006's trigger), every session of theirs ends.

Revision ID: 0031_two_factor_sessions
Revises: 0030_aggregates_without_zeros
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0031_two_factor_sessions"
down_revision = "0030_aggregates_without_zeros"
branch_labels = None
depends_on = None

HIDDEN_BEFORE = (
    "password_hash",
    "session_token",
    "last_login",
    "failed_login_count",
    "lockout_count",
    "locked_until",
)
HIDDEN = (*HIDDEN_BEFORE, "totp_secret", "totp_enabled_at", "totp_last_step")

TABLES = """
CREATE TABLE recovery_codes (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    used_at TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_recovery_codes_user FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uk_recovery_codes_user_code UNIQUE (user_id, code_hash)
);
CREATE TABLE user_sessions (
    id BIGSERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    secret_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ip_address INET,
    user_agent TEXT,
    CONSTRAINT fk_user_sessions_user FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX idx_user_sessions_user ON user_sessions (user_id, last_seen_at);
"""

END_SESSIONS = """
CREATE FUNCTION crm_end_user_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_sessions WHERE user_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trg_users_end_sessions AFTER UPDATE ON users
FOR EACH ROW WHEN (OLD.session_token IS DISTINCT FROM NEW.session_token)
EXECUTE FUNCTION crm_end_user_sessions();
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _audit_users(hidden: tuple[str, ...]) -> None:
    """Recreate the users' audit trigger with ``hidden`` never written to the log."""
    arguments = _migration("0010_audit_trail.py")._arguments(hidden)
    op.execute("DROP TRIGGER trg_users_audit ON users")
    op.execute(
        "CREATE TRIGGER trg_users_audit AFTER INSERT OR UPDATE OR DELETE ON users "
        f"FOR EACH ROW EXECUTE FUNCTION crm_audit({arguments})"
    )


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.Text()))
    op.add_column("users", sa.Column("totp_enabled_at", sa.DateTime()))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger()))
    _audit_users(HIDDEN)
    op.execute(TABLES)
    op.execute(END_SESSIONS)
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute(grants("customers", "recovery_codes", ("customers_id_seq", "recovery_codes_id_seq")))
    op.execute(grants("customers", "user_sessions", ("customers_id_seq", "user_sessions_id_seq")))


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_users_end_sessions ON users")
    op.execute("DROP FUNCTION crm_end_user_sessions()")
    op.execute("DROP TABLE user_sessions, recovery_codes")
    _audit_users(HIDDEN_BEFORE)
    for column in ("totp_last_step", "totp_enabled_at", "totp_secret"):
        op.drop_column("users", column)
