"""Restore drills: the newest backup restored into a scratch database and checked.

``verify`` restores an archive into a scratch database on the same server,
counts and checksums every table there the way the manifest was made
(crm/maintenance/manifest.py), compares, and drops the scratch database whatever
happens. ``record`` keeps the result in ``backup_checks`` (migration 0033) for
``/healthz`` and the admin home.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import URL

from crm.db.server import libpq_dsn
from crm.extensions import DbSession
from crm.maintenance import manifest as manifests
from crm.maintenance.backup import BackupError, check_archive, client_dsn, find_tool, run_tool
from crm.models import BackupCheck

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drill:
    """A drill's outcome: whether the copy matched, and what did not."""

    archive: str
    problems: list[str]
    tables: int
    rows: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Every table restored with the rows and checksum its manifest names."""
        return not self.problems


def _admin(url: URL) -> psycopg.Connection[Any]:
    """A connection to the server's ``postgres`` database, to create and drop databases."""
    return psycopg.connect(libpq_dsn(url.set(database="postgres")), autocommit=True)


ABANDONED_HOURS = 6  # a scratch database older than this was left by a killed drill


def _drop_abandoned(conn: psycopg.Connection[Any]) -> None:
    """Drop scratch databases a killed drill left behind (their name holds their time)."""
    cutoff = datetime.now(UTC) - timedelta(hours=ABANDONED_HOURS)
    names = conn.execute(
        "SELECT datname FROM pg_database WHERE datname ~ '^crm_drill_[0-9]{14}_'"
    ).fetchall()
    for (name,) in names:
        made = datetime.strptime(name[10:24], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        if made < cutoff:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def verify(
    url: URL,
    archive: Path,
    expected: manifests.Manifest,
    step: Callable[[str], None] | None = None,
    name: str | None = None,
) -> Drill:
    """Restore ``archive`` into a scratch database, compare with ``expected``, drop it."""
    check_archive(url, archive)
    started = time.monotonic()
    scratch = f"crm_drill_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    target = url.set(database=scratch)
    try:
        with _admin(url) as conn:
            _drop_abandoned(conn)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    except psycopg.Error as exc:
        raise BackupError(f"cannot create a scratch database for the drill ({exc})") from None
    try:
        run_tool(
            [str(find_tool("pg_restore", url)), "--no-owner", "--no-privileges",
             "--exit-on-error", f"--dbname={client_dsn(target)}", str(archive)],
            url,
            step,
        )  # fmt: skip
        with psycopg.connect(libpq_dsn(target)) as conn:
            found = manifests.counted(conn)
    except (BackupError, psycopg.Error) as exc:
        found, restore_problem = {}, f"the archive did not restore: {exc}"
    else:
        restore_problem = ""
    finally:
        try:
            with _admin(url) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
        except psycopg.Error:  # the next drill drops it (_drop_abandoned)
            log.warning("the drill's scratch database %s was not dropped", scratch)
    problems = [restore_problem] if restore_problem else manifests.differences(expected, found)
    return Drill(
        name or archive.name,
        problems,
        len(found),
        sum(rows for rows, _ in found.values()),
        time.monotonic() - started,
    )


def failed_drill(archive: str, problem: str) -> Drill:
    """A drill that could not restore anything (no archive, a damaged copy…)."""
    return Drill(archive, [problem], 0, 0, 0.0)


def record(session: DbSession, drill: Drill) -> BackupCheck:
    """Keep the drill's result (the caller commits)."""
    check = BackupCheck(
        archive=drill.archive[:500],
        ok=drill.ok,
        detail="; ".join(drill.problems)[:4000] or None,
        tables=drill.tables,
        total_rows=drill.rows,
        seconds=round(drill.seconds, 1),
    )
    session.add(check)
    return check


def last(session: DbSession) -> BackupCheck | None:
    """The newest drill's result, if any."""
    return session.scalar(select(BackupCheck).order_by(BackupCheck.checked_at.desc()).limit(1))


def newest_local(folder: Path) -> tuple[Path, manifests.Manifest]:
    """The newest archive in ``folder`` that has a manifest (older ones cannot be checked)."""
    made = sorted(folder.glob("crm_backup_*.dump"), reverse=True)
    for archive in made:
        manifest_file = archive.with_name(archive.name + ".manifest.json")
        if manifest_file.is_file():
            try:
                return archive, manifests.Manifest.from_json(manifest_file.read_text())
            except ValueError as exc:
                raise BackupError(f"{manifest_file} cannot be read ({exc})") from None
    raise BackupError(
        f"no archive with a manifest in {folder}: run `flask crm backup` first (archives "
        "made before manifests existed cannot be checked)"
    )


def verify_newest(
    url: URL, target: Any | None, folder: Path, step: Callable[[str], None] | None = None
) -> Drill:
    """Drill the newest archive: in ``target`` (an offsite.Target), else in ``folder``."""
    from crm.maintenance import offsite

    if target is None:
        archive, expected = newest_local(folder)
        return verify(url, archive, expected, step)
    made = offsite.archives(target)
    if not made:
        raise BackupError(f"no finished archive in {target} yet: run `flask crm backup --upload`")
    name = made[0][1].rpartition("/")[2]
    with offsite.scratch_dir() as temporary:
        archive, expected = offsite.fetch(target, name, Path(temporary))
        return verify(url, archive, expected, step, name=f"{target}/{name}")
