"""CRM admin dashboard: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from croniter import croniter
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, get_config
from crm.db import server as database
from crm.db.server import StartupError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: type[Config] | None = None,
    overrides: Mapping[str, Any] | None = None,
    instance_path: str | Path | None = None,
) -> Flask:
    """Build the app: settings, database, extensions, blueprints, CLI.

    ``instance_path`` (default ``./instance``) holds the embedded server's data.
    """
    app = Flask(
        __name__,
        instance_path=str(instance_path or PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    try:
        app.config.from_object(config or get_config())
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    app.config.update(overrides or {})
    check_required_settings(app.config)

    from crm import admin, api, cli
    from crm.audit import context as audit_context
    from crm.db import outage
    from crm.security import auth, protections, second_step
    from crm.web import edge, formats, pages, request_log

    formats.init_app(app)  # a bad display setting stops the start before the database
    _configure_database(app)
    from crm.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        compare_type=True,
        compare_server_default=True,
    )
    _trust_proxies(app)
    request_log.init_app(app)
    edge.init_app(app)  # before any view reads the request
    outage.init_app(app)
    protections.init_app(app)
    audit_context.init_app(app)
    auth.init_app(app)
    second_step.init_app(app)
    admin.init_app(app)
    api.init_app(app)
    pages.init_app(app)
    cli.init_app(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind N reverse proxies, take the client's address from their X-Forwarded-For.

    Without TRUSTED_PROXY_COUNT the header is ignored: anyone can send it, and the
    audit trail and the rate limits must not believe a forged address.
    """
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def check_required_settings(settings: Mapping[str, Any]) -> None:
    """Production refuses to start on development defaults (gunicorn.conf.py asks too)."""
    missing = [name for name in settings.get("REQUIRED_SETTINGS", ()) if not settings.get(name)]
    if missing:
        raise StartupError(
            f"{settings['ENV_NAME']} configuration needs {' and '.join(missing)} "
            "set in the environment"
        )
    base = str(settings.get("BASE_CURRENCY", "USD"))
    if not (len(base) == 3 and base.isascii() and base.isalpha()):
        raise StartupError(
            f"BASE_CURRENCY={base[:20]!r} is not a currency code: use three letters, such as USD"
        )
    _check_two_factor_roles(settings)
    _check_schedules(settings)


def _fires(schedule: str) -> bool:
    """Whether ``schedule`` is a cron line with a next time ("0 3 31 2 *" has none)."""
    if not croniter.is_valid(schedule):
        return False
    try:
        croniter(schedule).get_next()
    except (ValueError, KeyError):  # CroniterBadDateError is a ValueError
        return False
    return True


def _check_schedules(settings: Mapping[str, Any]) -> None:
    """The background worker's schedules are cron lines, and backups have somewhere to go."""
    from crm.maintenance.offsite import parse

    for name in (
        "RETENTION_SCHEDULE",
        "BACKUP_SCHEDULE",
        "BACKUP_VERIFY_SCHEDULE",
        "REMINDER_SCHEDULE",
    ):
        schedule = settings.get(name)
        if schedule and not _fires(schedule):
            raise StartupError(
                f"{name}={schedule[:40]!r} is not a cron line that ever fires: use five "
                "fields, such as '0 3 * * *' (03:00 UTC every night)"
            )
    if settings.get("SMTP_URL"):
        from crm.reminders.digest import parse as smtp

        try:
            smtp(settings["SMTP_URL"])
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    for name in ("BACKUP_KEEP_DAILY", "BACKUP_KEEP_WEEKLY"):
        if int(settings.get(name, 1)) < 1:
            raise StartupError(
                f"{name} must be at least 1: the newest archive is always kept (it is "
                "what a restore needs)"
            )
    target = settings.get("BACKUP_TARGET")
    if target:
        try:
            parse(target)
        except ValueError as exc:
            raise StartupError(f"BACKUP_TARGET: {exc}") from None
    elif settings.get("BACKUP_SCHEDULE"):
        raise StartupError(
            "BACKUP_SCHEDULE is set but BACKUP_TARGET is not: say where backups go "
            "(s3://bucket/prefix)"
        )


def _check_two_factor_roles(settings: Mapping[str, Any]) -> None:
    """REQUIRE_2FA_FOR names only roles there are (a typo would silently enforce nothing)."""
    from crm.models.enums import UserRole
    from crm.security.two_factor import roles_named

    known = {role.value for role in UserRole}
    unknown = [r for r in roles_named(settings.get("REQUIRE_2FA_FOR")) if r not in known]
    if unknown:
        raise StartupError(
            f"REQUIRE_2FA_FOR names {', '.join(repr(r[:20]) for r in unknown)}, not a role: "
            f"use a comma-separated list of {', '.join(sorted(known))}"
        )


def _configure_database(app: Flask) -> None:
    """Resolve SQLALCHEMY_DATABASE_URI: DATABASE_URL, or the embedded server."""
    if app.config.get("SQLALCHEMY_DATABASE_URI"):
        url = database.parse_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    elif app.config.get("DATABASE_URL"):
        url = database.parse_database_url(app.config["DATABASE_URL"])
    else:
        server = database.embedded_server_url(app.instance_path)
        url = database.ensure_database(server, app.config["EMBEDDED_DATABASE_NAME"])
    try:
        database.check_connection(url, app.config["DATABASE_CONNECT_TIMEOUT"])
    except database.DatabaseSetupError as exc:
        if app.config["DATABASE_REQUIRED_AT_START"]:
            raise
        app.logger.warning("starting without the database: %s", exc)

    app.config["SQLALCHEMY_DATABASE_URI"] = url.render_as_string(hide_password=False)
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    connect_args = dict(options.get("connect_args", {}))
    # Columns are TIMESTAMP WITHOUT TIME ZONE: store UTC whatever the server's zone.
    connect_args.setdefault("options", "-c timezone=UTC")
    connect_args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT"])
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
