"""Application settings: the only module that reads the environment.

Pick a configuration with ``CRM_ENV`` (development, testing, production; default
development). Every setting a deployment may change is read here and nowhere else.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

# Passwords printed in the README for the demo logins; production refuses them.
WELL_KNOWN_PASSWORDS = frozenset({"admin123", "manager123", "user123", "support123"})


def _env(name: str) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name, "").strip()
    return value or None


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = _env("SECRET_KEY")
    # A PostgreSQL URL; unset means "start the embedded PostgreSQL server".
    DATABASE_URL: str | None = _env("DATABASE_URL")
    # Database created on the embedded server (ignored when DATABASE_URL is set).
    EMBEDDED_DATABASE_NAME = "crm"
    # Seconds to wait for PostgreSQL before giving up with a clear message.
    DATABASE_CONNECT_TIMEOUT = int(_env("DATABASE_CONNECT_TIMEOUT") or 5)
    # Whether the app refuses to start when PostgreSQL does not answer (one clear line).
    # Production serves instead: pages answer 503 until the database is back, and a
    # worker restarted during an outage must not bring gunicorn down (crm/db/outage.py).
    DATABASE_REQUIRED_AT_START = True
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    SQLALCHEMY_RECORD_QUERIES = False
    # bcrypt cost for new password hashes (the spec's seed uses 12).
    BCRYPT_ROUNDS = 12
    # Whether `flask crm seed` may use the README's demo passwords.
    ALLOW_DEMO_PASSWORDS = True

    # Sessions: signed cookies; a per-user token in them is checked on every request.
    SESSION_COOKIE_NAME = "crm_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # Signed out after this long without a request, and this long after signing in.
    SESSION_IDLE_MINUTES = int(_env("SESSION_IDLE_MINUTES") or 30)
    SESSION_ABSOLUTE_HOURS = int(_env("SESSION_ABSOLUTE_HOURS") or 12)
    # CSRF tokens live as long as the session (the session's own limits apply).
    WTF_CSRF_TIME_LIMIT = None

    # Sign-in throttling (Flask-Limiter) and account lockout.
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI") or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Requests per personal API token (crm/api/auth.py), on top of no other limit.
    API_RATE_LIMIT = _env("API_RATE_LIMIT") or "600 per minute"
    # Requests with a refused token (unknown, revoked, expired) per address.
    API_REFUSED_LIMIT = "30 per minute"
    # The largest API request body: a record is a few KB; anything near this is a mistake.
    API_MAX_BODY_KB = int(_env("API_MAX_BODY_KB") or 256)
    # Webhooks (crm/webhooks/): private and loopback targets only when allowed (tests,
    # a receiver on the same network); the wait for an answer; attempts before giving up.
    WEBHOOK_ALLOW_PRIVATE = _env("WEBHOOK_ALLOW_PRIVATE") == "1"
    WEBHOOK_TIMEOUT_SECONDS = int(_env("WEBHOOK_TIMEOUT_SECONDS") or 10)
    WEBHOOK_MAX_ATTEMPTS = int(_env("WEBHOOK_MAX_ATTEMPTS") or 8)
    # Delivered and failed deliveries stay in the log this many days.
    WEBHOOK_LOG_DAYS = int(_env("WEBHOOK_LOG_DAYS") or 30)
    LOGIN_RATE_LIMIT_PER_IP = _env("LOGIN_RATE_LIMIT_PER_IP") or "30 per minute"
    LOGIN_RATE_LIMIT_PER_ACCOUNT = _env("LOGIN_RATE_LIMIT_PER_ACCOUNT") or "12 per minute"
    LOCKOUT_THRESHOLD = 10  # consecutive failures
    LOCKOUT_MINUTES = 15  # first lockout; each repeat doubles it
    LOCKOUT_MAX_MINUTES = 24 * 60

    # Two-factor sign-in (crm/security/totp.py). Roles that must use it (comma-separated:
    # admin, manager, user, support); they set it up at their next sign-in.
    REQUIRE_2FA_FOR: tuple[str, ...] = tuple(
        r.strip().lower() for r in (_env("REQUIRE_2FA_FOR") or "").split(",") if r.strip()
    )
    # The key that encrypts two-factor secrets; unset: derived from SECRET_KEY. Changing
    # it (or SECRET_KEY, when this is unset) voids every enrolled authenticator.
    TWO_FACTOR_KEY: str | None = _env("TWO_FACTOR_KEY")
    # The name authenticator apps show beside the account.
    TWO_FACTOR_ISSUER = _env("TWO_FACTOR_ISSUER") or "CRM Admin"

    # Background jobs (crm/jobs/): when the worker applies the retention policy, as a cron
    # line in UTC ("0 3 * * *": 03:00 UTC every night); unset: never on its own.
    RETENTION_SCHEDULE: str | None = _env("RETENTION_SCHEDULE")
    # Off-site backups (crm/maintenance/offsite.py): where the worker's scheduled backups go
    # (s3://bucket/prefix; S3 itself is set by boto3's AWS_* variables), when (cron), and
    # how many to keep: the newest of each of the last N days and M weeks.
    BACKUP_TARGET: str | None = _env("BACKUP_TARGET")
    BACKUP_SCHEDULE: str | None = _env("BACKUP_SCHEDULE")
    # The restore drill of the newest archive; weekly by default once there is a target.
    BACKUP_VERIFY_SCHEDULE: str | None = _env("BACKUP_VERIFY_SCHEDULE") or "0 5 * * 0"
    BACKUP_KEEP_DAILY = int(_env("BACKUP_KEEP_DAILY") or 7)
    BACKUP_KEEP_WEEKLY = int(_env("BACKUP_KEEP_WEEKLY") or 4)
    # Task reminders (crm/reminders/): when the morning's due and overdue notices are made
    # (cron, UTC), and the daily email digest: the SMTP server (smtp://user:pass@host:587
    # ?starttls=1 or smtps://host:465; unset: no mail) and the sender.
    REMINDER_SCHEDULE: str | None = _env("REMINDER_SCHEDULE") or "0 7 * * *"
    SMTP_URL: str | None = _env("SMTP_URL")
    SMTP_FROM = _env("SMTP_FROM") or "CRM <crm@localhost>"
    # Finished jobs (and their results and errors) are kept this many days.
    JOB_HISTORY_DAYS = int(_env("JOB_HISTORY_DAYS") or 30)

    # Reverse proxies in front of the app whose X-Forwarded-For may be believed (0: none).
    TRUSTED_PROXY_COUNT = int(_env("TRUSTED_PROXY_COUNT") or 0)
    # Host names the app answers to (comma-separated); any other Host header gets a 400.
    # Unset: every host (development). Return addresses are paths whatever it says.
    TRUSTED_HOSTS: tuple[str, ...] | None = (
        tuple(h.strip() for h in (_env("TRUSTED_HOSTS") or "").split(",") if h.strip()) or None
    )

    # CSV import: files over IMPORT_MAX_MB are refused. The request limit adds room for
    # the form around the file; it also caps every other request body.
    IMPORT_MAX_MB = int(_env("IMPORT_MAX_MB") or 50)
    MAX_CONTENT_LENGTH = (IMPORT_MAX_MB + 1) * 1024 * 1024

    # How pages show money and times (crm/web/formats.py): a Babel locale and an IANA zone.
    DISPLAY_LOCALE = _env("DISPLAY_LOCALE") or "en_US"
    DISPLAY_TIMEZONE = _env("DISPLAY_TIMEZONE") or "UTC"
    # The currency the pipeline converts every amount to (exchange_rates hold rates to it).
    BASE_CURRENCY = (_env("BASE_CURRENCY") or "USD").upper()

    # CSV export from a list page: at most this many rows (more: `flask crm export`).
    EXPORT_MAX_ROWS = int(_env("EXPORT_MAX_ROWS") or 100_000)

    # gunicorn (gunicorn.conf.py): address, and workers (0: 2 per CPU core + 1).
    BIND = _env("BIND") or "0.0.0.0:8000"
    WEB_CONCURRENCY = int(_env("WEB_CONCURRENCY") or 0)

    # One JSON line per request on stderr (crm/web/request_log.py); "0" turns it off.
    REQUEST_LOG = (_env("REQUEST_LOG") or "1") != "0"

    # Strict-Transport-Security max-age; 0 sends no header (plain HTTP in development).
    HSTS_SECONDS = 0


class DevelopmentConfig(Config):
    """`make run`: embedded database, demo passwords allowed."""

    ENV_NAME = "development"
    # A fixed key is fine on a developer's machine; production must set its own.
    SECRET_KEY = Config.SECRET_KEY or "dev-only-not-secret"


class TestingConfig(Config):
    """pytest: a private database per run (see tests/conftest.py)."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"
    EMBEDDED_DATABASE_NAME = "crm_test"
    # Tests hash many passwords; the cost is checked separately.
    BCRYPT_ROUNDS = 4
    # Each test gets a fresh limiter; counters never leak between tests.
    RATELIMIT_STORAGE_URI = "memory://"
    # No schedule fires by itself in a test's worker (a test asks for the jobs it runs).
    REMINDER_SCHEDULE = None
    BACKUP_VERIFY_SCHEDULE = None
    # Tests receive webhooks on loopback.
    WEBHOOK_ALLOW_PRIVATE = True
    # The per-token limit's tests send limit + 1 requests: 61, not 601.
    API_RATE_LIMIT = "60 per minute"


class ProductionConfig(Config):
    """Real deployments: secrets and the database come from the environment."""

    ENV_NAME = "production"
    ALLOW_DEMO_PASSWORDS = False
    DATABASE_REQUIRED_AT_START = False
    SESSION_COOKIE_SECURE = True
    HSTS_SECONDS = 365 * 24 * 3600
    REQUIRED_SETTINGS = ("SECRET_KEY", "DATABASE_URL")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    """The configuration class named by ``name`` or by ``CRM_ENV``."""
    name = name or _env("CRM_ENV") or "development"
    try:
        return CONFIGS[name]
    except KeyError:
        choices = ", ".join(sorted(CONFIGS))
        raise ValueError(f"CRM_ENV={name!r} is not one of: {choices}") from None
