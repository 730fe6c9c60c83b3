"""A backup's manifest: every table's row count and checksum, read in the dump's snapshot.

``snapshot(url)`` opens a REPEATABLE READ transaction and exports its snapshot;
pg_dump is started with ``--snapshot`` so it dumps exactly what that
transaction sees, and ``tables()`` counts and checksums every table there
(while pg_dump runs). A restore drill counts and checksums the restored copy
the same way and compares. A table's checksum is the sum of ``hashtext`` of
each row's text, so row order does not matter; the session's date, time zone
and float settings are fixed so the same rows give the same text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from crm.db.server import libpq_dsn

SETTINGS = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
    "SET lc_monetary = 'C'",
)
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"


@dataclass
class Manifest:
    """What an archive holds: per table (rows, checksum), its size and SHA-256."""

    created_at: str
    database: str
    tables: dict[str, list[int]] = field(default_factory=dict)
    size: int = 0
    sha256: str = ""

    def to_json(self) -> str:
        """The manifest as stored beside its archive."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """A stored manifest; ValueError when it is not one."""
        try:
            data = json.loads(text)
            return cls(
                created_at=str(data["created_at"]),
                database=str(data["database"]),
                tables={str(k): [int(v[0]), int(v[1])] for k, v in data["tables"].items()},
                size=int(data["size"]),
                sha256=str(data["sha256"]),
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a backup manifest ({exc})") from None

    @property
    def rows(self) -> int:
        """Rows in every table together."""
        return sum(rows for rows, _checksum in self.tables.values())


def counted(conn: psycopg.Connection[Any]) -> dict[str, list[int]]:
    """Every public table's (rows, checksum) as ``conn`` sees it."""
    for setting in SETTINGS:
        conn.execute(setting)
    found: dict[str, list[int]] = {}
    for (table,) in conn.execute(TABLES).fetchall():
        query = sql.SQL(
            "SELECT count(*), coalesce(sum(hashtext((t.*)::text)::bigint), 0) "
            "FROM ONLY public.{} AS t"
        ).format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        assert row is not None
        found[table] = [int(row[0]), int(row[1]) % (2**63)]
    return found


@contextmanager
def snapshot(url: URL) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """A REPEATABLE READ transaction and its exported snapshot id, open for the block."""
    with psycopg.connect(libpq_dsn(url)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        try:
            yield conn, str(row[0])
        finally:
            conn.rollback()


def new(database: str) -> Manifest:
    """An empty manifest for a backup starting now."""
    return Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"), database=database)


def differences(expected: Manifest, found: dict[str, list[int]]) -> list[str]:
    """What a restored copy lacks or has different from the manifest (empty: the same)."""
    problems = []
    for table, (rows, checksum) in sorted(expected.tables.items()):
        got = found.get(table)
        if got is None:
            problems.append(f"{table}: missing")
        elif got[0] != rows:
            problems.append(f"{table}: {got[0]:,} rows, the archive's manifest says {rows:,}")
        elif got[1] != checksum:
            problems.append(f"{table}: {rows:,} rows as expected, but their checksum differs")
    problems.extend(
        f"{table}: not in the manifest" for table in sorted(set(found) - set(expected.tables))
    )
    return problems
