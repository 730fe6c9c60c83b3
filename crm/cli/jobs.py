"""``flask crm worker``: run background jobs (crm/jobs/worker.py does the work)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from crm.cli.common import needs_schema
from crm.db.server import describe
from crm.jobs import worker


@click.command("worker")
@click.option(
    "--queue",
    "queues",
    multiple=True,
    help="Work only this queue (repeatable); default: every queue.",
)
@click.option(
    "--until-idle",
    is_flag=True,
    help="Stop once no job is waiting (for scripts and tests), instead of at a signal.",
)
@with_appcontext
@needs_schema
def worker_command(queues: tuple[str, ...], until_idle: bool) -> None:
    """Take jobs from the queue and run them (imports, backups, retention, reminders).

    Run one or more beside the web server, on any machine that reaches the
    database; stop with Ctrl+C or SIGTERM (a job in progress finishes first).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    backups = (
        f"backups to {config['BACKUP_TARGET']}: {config.get('BACKUP_SCHEDULE') or 'off'}, "
        f"drill: {config.get('BACKUP_VERIFY_SCHEDULE') or 'off'}"
        if config.get("BACKUP_TARGET")
        else "backups: off"
    )
    click.echo(
        f"Worker on {describe(make_url(config['SQLALCHEMY_DATABASE_URI']))}: queues "
        f"{', '.join(queues) or 'all'}; retention schedule: "
        f"{config.get('RETENTION_SCHEDULE') or 'off'}; {backups} (UTC). Ctrl+C stops."
    )
    worker.run(app, queues=queues or None, wait=not until_idle)


COMMANDS = (worker_command,)
