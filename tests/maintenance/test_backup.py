"""Backup and restore through the CLI, on a database of their own (real commits)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import URL

from crm.extensions import db
from crm.maintenance import backup
from tests.helpers import app_on_new_database

pytestmark = pytest.mark.own_database

TABLES = (
    "users", "customers", "lead_stages", "leads", "tasks", "interactions", "audit_logs",
    "pipeline_stats", "pipeline_totals", "forecast_stats", "alembic_version",
)  # fmt: skip


@pytest.fixture
def ops_app(server_url: URL) -> Iterator[Flask]:
    with app_on_new_database(server_url, "backup") as application:
        runner = application.test_cli_runner()
        assert runner.invoke(args=["crm", "seed"]).exit_code == 0
        assert runner.invoke(args=["crm", "demo-data", "--scale", "0.0002"]).exit_code == 0
        yield application


def backup_url(app: Flask) -> URL:
    with app.app_context():
        return db.engine.url


def fingerprints(app: Flask) -> dict[str, tuple[int, str]]:
    """Per table: row count and a checksum of every row's content."""
    with app.app_context(), db.engine.connect() as conn:
        return {
            table: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' "
                        f"ORDER BY t::text)), '') FROM {table} t"
                    )
                ).one()
            )
            for table in TABLES
        }


def change_everything(app: Flask) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE customers SET city = 'Changed' WHERE id % 2 = 0"))
        conn.execute(text("DELETE FROM interactions WHERE id % 3 = 0"))
        conn.execute(text("INSERT INTO lead_stages (name, order_index) VALUES ('Extra', 99)"))
        conn.execute(text("UPDATE leads SET stage_id = (SELECT min(id) FROM lead_stages)"))


def test_backup_change_restore_gives_back_every_row(ops_app: Flask, tmp_path: Path):
    runner = ops_app.test_cli_runner()
    before = fingerprints(ops_app)
    archive = tmp_path / "crm.dump"
    made = runner.invoke(args=["crm", "backup", "--output", str(archive)])
    assert made.exit_code == 0, made.output
    assert "Backup written:" in made.output and " in " in made.output and "KB" in made.output
    # Progress: every table as it is dumped, n of all, with the time so far.
    dumped = re.findall(r"^  \[(\d+)/(\d+)\] (\w+) \(\d+ s\)$", made.output, re.M)
    assert {name for _n, _total, name in dumped} >= set(TABLES)
    assert dumped[-1][0] == dumped[-1][1]  # the last step is n of n
    change_everything(ops_app)
    assert fingerprints(ops_app) != before
    restored = runner.invoke(args=["crm", "restore", str(archive), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert fingerprints(ops_app) == before
    steps = backup.steps_in(backup_url(ops_app), archive)
    assert steps > len(TABLES)  # tables' data, then indexes, keys, triggers
    assert f"  [{steps}/{steps}] " in restored.output and "  [1/" in restored.output


def test_the_default_name_has_a_timestamp(ops_app: Flask, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = ops_app.test_cli_runner().invoke(args=["crm", "backup"])
    assert result.exit_code == 0, result.output
    made, manifest = sorted((tmp_path / "backups").iterdir())
    assert made.name.startswith("crm_backup_") and made.name.endswith(".dump")
    assert made.read_bytes()[:5] == b"PGDMP"
    assert manifest.name == made.name + ".manifest.json"  # rows and checksum per table
    kept = json.loads(manifest.read_text())
    assert kept["size"] == made.stat().st_size and kept["tables"]["customers"][0] > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SELECT 1;\n", "is not a pg_dump custom-format archive"),
        (b"", "is not a pg_dump custom-format archive"),
        (b"PGDMP\x01\x0e\x00 truncated", "cannot be read"),
    ],
)
def test_restore_refuses_what_is_not_an_archive(ops_app, tmp_path: Path, content, message):
    junk = tmp_path / "junk.dump"
    junk.write_bytes(content)
    before = fingerprints(ops_app)
    result = ops_app.test_cli_runner().invoke(args=["crm", "restore", str(junk), "--yes"])
    assert (
        result.exit_code == 1
        and message in result.output
        and "nothing was changed" in result.output
    )
    assert fingerprints(ops_app) == before


def test_restore_asks_first_and_no_changes_nothing(ops_app: Flask, tmp_path: Path):
    runner = ops_app.test_cli_runner()
    archive = tmp_path / "crm.dump"
    assert runner.invoke(args=["crm", "backup", "--output", str(archive)]).exit_code == 0
    change_everything(ops_app)
    changed = fingerprints(ops_app)
    answer = runner.invoke(args=["crm", "restore", str(archive)], input="n\n")
    assert answer.exit_code == 1 and "Continue?" in answer.output
    assert fingerprints(ops_app) == changed


def test_backup_does_not_overwrite_a_file(ops_app: Flask, tmp_path: Path):
    existing = tmp_path / "keep.dump"
    existing.write_text("precious")
    result = ops_app.test_cli_runner().invoke(args=["crm", "backup", "--output", str(existing)])
    assert result.exit_code == 2 and "exists already" in result.output
    assert "Backing up" not in result.output  # refused before anything starts
    assert existing.read_text() == "precious"


def test_a_pg_dump_older_than_the_server_is_refused(ops_app: Flask, tmp_path: Path, monkeypatch):
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(backup, "is_embedded", lambda _url: False)  # as for DATABASE_URL
    result = ops_app.test_cli_runner().invoke(
        args=["crm", "backup", "--output", str(tmp_path / "x.dump")]
    )
    assert result.exit_code == 1
    assert "version 9, older than the server (PostgreSQL" in result.output
    assert not (tmp_path / "x.dump").exists()


def test_a_backup_of_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path):
    down = URL.create("postgresql+psycopg", username="nobody", host="127.0.0.1", port=1)
    with pytest.raises(backup.BackupError, match="cannot read the database to back it up"):
        backup.tables_in(down)
