"""Restore drills: the newest backup restored into a scratch database and checked.

``verify`` restores an archive into a scratch database on the same server,
counts and checksums every table there the way the manifest was made
(crm/maintenance/manifest.py), compares, and drops the scratch database whatever
happens. ``record`` keeps the result in ``backup_checks`` (migration 0033) for
``/healthz`` and the admin home.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
    scratch = f"crm_drill_{datetime.now(UTC):%Y%m%d%H%M%S}_{id(archive) % 10000}"
    target = url.set(database=scratch)
    try:
        with _admin(url) as conn:
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
    except BackupError as exc:
        found, restore_problem = {}, f"the archive did not restore: {exc}"
    else:
        restore_problem = ""
    finally:
        with _admin(url) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
    problems = [restore_problem] if restore_problem else manifests.differences(expected, found)
    return Drill(
        name or archive.name,
        problems,
        len(found),
        sum(rows for rows, _ in found.values()),
        time.monotonic() - started,
    )


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
