"""``api_tokens``: personal API tokens, stored as a digest, audited (issue 20, part 3).

A token is ``crm_`` and 43 random characters; the row keeps its SHA-256 (a random
256-bit secret needs no slow hash: nothing to guess from the digest) and the first
characters, so a list can name it. Read or write scope, an expiry, the time of last
use, and when (and by whom) it was revoked. Audited like every table, without the
digest and without ``last_used_at`` (a use is not a change, and would flood the trail).
Deleting a user deletes their tokens; whatever ends all their sessions (a new password,
deactivation: 0006's new session token) revokes their tokens too, so a token does not
outlive an account's recovery, nor come back when the account is reactivated. Grants
copied from ``customers``.

Revision ID: 0041_api_tokens
Revises: 0040_closing_by_creation_day
Create Date: 2026-12-02
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0041_api_tokens"
down_revision = "0040_closing_by_creation_day"
branch_labels = None
depends_on = None

HIDDEN = ("token_hash", "last_used_at")

TABLE = """
CREATE TABLE api_tokens (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    name VARCHAR(100) NOT NULL,
    scope VARCHAR(5) NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    prefix VARCHAR(12) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by INTEGER,
    CONSTRAINT fk_api_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_api_tokens_revoked_by FOREIGN KEY (revoked_by)
        REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT uk_api_tokens_token_hash UNIQUE (token_hash),
    CONSTRAINT chk_api_tokens_scope CHECK (scope IN ('read', 'write')),
    CONSTRAINT chk_api_tokens_name CHECK (btrim(name) <> '')
);
CREATE INDEX idx_api_tokens_user ON api_tokens (user_id, created_at);
"""

REVOKE_ON_NEW_SESSION_TOKEN = """
CREATE FUNCTION crm_revoke_api_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP
     WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trg_users_revoke_api_tokens AFTER UPDATE ON users
FOR EACH ROW WHEN (OLD.session_token IS DISTINCT FROM NEW.session_token)
EXECUTE FUNCTION crm_revoke_api_tokens();
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(TABLE)
    arguments = _migration("0010_audit_trail.py")._arguments(HIDDEN)
    op.execute(
        "CREATE TRIGGER trg_api_tokens_audit AFTER INSERT OR UPDATE OR DELETE ON api_tokens "
        f"FOR EACH ROW EXECUTE FUNCTION crm_audit({arguments})"
    )
    op.execute(
        "CREATE TRIGGER trg_api_tokens_no_truncate BEFORE TRUNCATE ON api_tokens "
        "FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_truncate()"
    )
    op.execute(REVOKE_ON_NEW_SESSION_TOKEN)
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute(grants("customers", "api_tokens", ("customers_id_seq", "api_tokens_id_seq")))


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_users_revoke_api_tokens ON users")
    op.execute("DROP FUNCTION crm_revoke_api_tokens()")
    op.execute("DROP TABLE api_tokens")
