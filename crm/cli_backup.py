"""``flask crm backup`` and ``flask crm restore`` (crm/backup.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from sqlalchemy.engine import URL, make_url

from crm import backup
from crm.cli import crm_cli
from crm.database import describe
from crm.extensions import db


def _url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


@crm_cli.command("backup")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive to write (default: backups/crm_backup_<timestamp>.dump).",
)
def backup_command(output: Path | None) -> None:
    """Write a pg_dump custom-format archive of the whole database."""
    url = _url()
    target = output or Path("backups") / backup.default_name()
    click.echo(f"Backing up {describe(url)} to {target}…")
    try:
        done = backup.backup(url, target)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backup written: {done.path} ({_size(done.size)}) in {done.seconds:.1f} s.")


@crm_cli.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def restore_command(archive: Path, yes: bool) -> None:
    """Replace everything in the database with ARCHIVE (made by `flask crm backup`)."""
    url = _url()
    try:
        backup.check_archive(url, archive)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if not yes:
        click.confirm(
            f"This replaces every table in {describe(url)} with the contents of "
            f"{archive}. Continue?",
            abort=True,
        )
    db.session.remove()
    db.engine.dispose()  # the app's own connections would hold locks the restore needs
    try:
        done = backup.restore(url, archive)
    except backup.BackupError as exc:
        raise click.ClickException(f"{exc}; the database was left as it was") from None
    click.echo(f"Restored {describe(url)} from {done.path} in {done.seconds:.1f} s.")
