"""``flask crm backup`` and ``flask crm restore`` (crm/maintenance/backup.py does the work)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import URL, make_url

from crm.db.server import describe
from crm.extensions import db
from crm.maintenance import backup, offsite
from crm.maintenance.drill import failed_drill, record, verify_newest


def _url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


@contextmanager
def _steps(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar of a backup's or restore's steps (tables, indexes), with the time.

    Not on a terminal (a log, a script), one line per step instead: a bar would
    print only its label there.
    """
    started = time.monotonic()
    if not sys.stdout.isatty():
        done = 0

        def line(name: str) -> None:
            nonlocal done
            done += 1
            click.echo(f"  [{done}/{total}] {name} ({time.monotonic() - started:.0f} s)")

        yield line
        return
    with click.progressbar(
        length=max(total, 1),
        label=label,
        show_pos=True,
        item_show_func=lambda item: item and f"{item} ({time.monotonic() - started:.0f} s)",
    ) as bar:

        def step(name: str) -> None:
            bar.update(1, name)

        yield step


def _new_archive(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """--output must be a new file: checked before anything starts."""
    if value is not None and value.exists():
        raise click.BadParameter(f"{value} exists already; choose another --output")
    return value


def _target(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """--upload: an s3:// address, checked before anything starts."""
    if value is None:
        return None
    try:
        return offsite.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("backup")
@with_appcontext
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_new_archive,
    help="Archive to write, a new file (default: backups/crm_backup_<timestamp>.dump).",
)
@click.option(
    "--upload",
    "target",
    metavar="s3://BUCKET/PREFIX",
    callback=_target,
    help="Stream the archive to S3 instead (boto3's AWS_* settings), check it, keep the "
    "newest BACKUP_KEEP_DAILY days and BACKUP_KEEP_WEEKLY weeks.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Instead: restore the newest archive (in --upload's place or BACKUP_TARGET, else "
    "backups/) into a scratch database and compare it with its manifest.",
)
def backup_command(output: Path | None, target: Any, verify: bool) -> None:
    """Write a pg_dump custom-format archive of the whole database and its manifest."""
    url = _url()
    if verify:
        _verify(url, target)
        return
    if target is not None:
        _upload(url, target)
        return
    target_file = output or Path("backups") / backup.default_name()
    click.echo(f"Backing up {describe(url)} to {target_file}…")
    try:
        with _steps("Tables", backup.tables_in(url)) as step:
            done = backup.backup(url, target_file, step)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Backup written: {done.path} ({_size(done.size)}) in {done.seconds:.1f} s, "
        f"with its manifest {backup.manifest_path(done.path).name}."
    )


def _upload(url: URL, target: Any) -> None:
    config = current_app.config
    click.echo(f"Backing up {describe(url)} to {target}…")
    try:
        with _steps("Tables", backup.tables_in(url)) as step:
            done = offsite.upload(url, target, step)
        gone = offsite.prune(
            target, config["BACKUP_KEEP_DAILY"], config["BACKUP_KEEP_WEEKLY"], keep=done.key
        )
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Uploaded s3://{target.bucket}/{done.key} ({_size(done.manifest.size)}, SHA-256 "
        f"{done.manifest.sha256[:16]}… checked after upload) in {done.seconds:.1f} s; "
        f"{len(gone)} older archives deleted by the keep rules."
    )


def _verify(url: URL, target: Any) -> None:
    configured = current_app.config.get("BACKUP_TARGET")
    place = target or (offsite.parse(configured) if configured else None)
    click.echo(f"Restore drill of the newest archive in {place or 'backups/'}…")
    try:
        drill = verify_newest(url, place, Path("backups"))
    except backup.BackupError as exc:  # no archive to drill, or a damaged one: a failed check
        record(db.session, failed_drill(str(place or "backups/"), str(exc)))
        db.session.commit()
        raise click.ClickException(str(exc)) from None
    record(db.session, drill)
    db.session.commit()
    if not drill.ok:
        raise click.ClickException(
            f"{drill.archive} did NOT restore as its manifest says: " + "; ".join(drill.problems)
        )
    click.echo(
        f"{drill.archive}: restored and checked, {drill.tables} tables, {drill.rows:,} rows, "
        f"every count and checksum as in its manifest ({drill.seconds:.1f} s)."
    )


@click.command("restore")
@with_appcontext
@click.argument("archive")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def restore_command(archive: str, yes: bool) -> None:
    """Replace everything in the database with ARCHIVE (a file, or an s3:// address)."""
    if archive.startswith("s3://"):
        try:
            place, name = offsite.split(archive)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="ARCHIVE") from None
        with offsite.scratch_dir() as temporary:
            click.echo(f"Fetching {archive} and checking its SHA-256…")
            try:
                path, _manifest = offsite.fetch(place, name, Path(temporary))
            except backup.BackupError as exc:
                raise click.ClickException(str(exc)) from None
            _restore(path, yes)
        return
    _restore(Path(archive), yes)


def _restore(archive: Path, yes: bool) -> None:
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
    click.echo(f"Restoring {describe(url)} from {archive} ({_size(archive.stat().st_size)})…")
    try:
        with _steps("Tables and indexes", backup.steps_in(url, archive)) as step:
            done = backup.restore(url, archive, step)
    except backup.BackupError as exc:
        raise click.ClickException(f"{exc}; the database was left as it was") from None
    click.echo(f"Restored {describe(url)} from {done.path} in {done.seconds:.1f} s.")


COMMANDS = (backup_command, restore_command)
