"""Off-site backups against a real S3 API server on loopback (moto in server mode), and
restore drills: upload, checksum, keep rules, restore from S3, drills that pass and fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from flask import Flask
from moto.server import ThreadedMotoServer
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from crm.extensions import db
from crm.maintenance import offsite
from crm.models import BackupCheck
from tests.helpers import app_on_new_database

pytestmark = pytest.mark.own_database
BUCKET = "crm-backups"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch) -> object:
    """boto3 pointed at the loopback server by its standard settings, and an empty bucket."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3")
    if BUCKET in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    else:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def ops_app(server_url: URL) -> Iterator[Flask]:
    with app_on_new_database(server_url, "offsite") as application:
        runner = application.test_cli_runner()
        assert runner.invoke(args=["crm", "seed"]).exit_code == 0
        assert runner.invoke(args=["crm", "demo-data", "--scale", "0.0002"]).exit_code == 0
        yield application


def keys(client: object) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_upload_streams_checks_and_stores_a_manifest(ops_app: Flask, s3, tmp_path: Path):
    made = ops_app.test_cli_runner().invoke(
        args=["crm", "backup", "--upload", f"s3://{BUCKET}/nightly"]
    )
    assert made.exit_code == 0, made.output
    assert "checked after upload" in made.output
    (archive, manifest) = keys(s3)
    assert archive.startswith("nightly/crm_backup_") and manifest == archive + ".manifest.json"
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest)["Body"].read())
    body = s3.get_object(Bucket=BUCKET, Key=archive)["Body"].read()
    assert body.startswith(b"PGDMP") and stored["size"] == len(body)
    with ops_app.app_context():
        customers = db.session.scalar(text("SELECT count(*) FROM customers"))
    assert stored["tables"]["customers"][0] == customers > 0


def test_restore_from_s3_gives_back_every_row(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/r"]).exit_code == 0
    (archive, _manifest) = keys(s3)
    with ops_app.app_context():
        before = db.session.scalar(text("SELECT count(*) FROM customers"))
        db.session.execute(text("UPDATE customers SET city = 'Changed'"))
        db.session.execute(text("INSERT INTO lead_stages (name, order_index) VALUES ('X', 99)"))
        db.session.commit()
    restored = runner.invoke(args=["crm", "restore", f"s3://{BUCKET}/{archive}", "--yes"])
    assert restored.exit_code == 0, restored.output
    with ops_app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM customers")) == before
        assert db.session.scalar(text("SELECT count(*) FROM customers WHERE city = 'Changed'")) == 0
        assert db.session.scalar(text("SELECT count(*) FROM lead_stages WHERE name = 'X'")) == 0


def test_a_damaged_copy_is_refused_and_nothing_changes(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/d"]).exit_code == 0
    (archive, _manifest) = keys(s3)
    body = s3.get_object(Bucket=BUCKET, Key=archive)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=archive, Body=body[:-10] + b"0123456789")
    with ops_app.app_context():
        db.session.execute(text("INSERT INTO lead_stages (name, order_index) VALUES ('Y', 98)"))
        db.session.commit()
    refused = runner.invoke(args=["crm", "restore", f"s3://{BUCKET}/{archive}", "--yes"])
    assert refused.exit_code != 0 and "does not match its manifest's SHA-256" in refused.output
    with ops_app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM lead_stages WHERE name = 'Y'")) == 1
        db.session.execute(text("DELETE FROM lead_stages WHERE name = 'Y'"))
        db.session.commit()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("s3://no-such-bucket/x", "the bucket 'no-such-bucket' does not exist"),
        ("http://example.com/x", "is not an S3 address"),
    ],
)
def test_bad_targets_get_one_line(ops_app: Flask, s3, address, message):
    result = ops_app.test_cli_runner().invoke(args=["crm", "backup", "--upload", address])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_endpoint_or_wrong_keys_get_one_line(ops_app: Flask, s3, monkeypatch):
    runner = ops_app.test_cli_runner()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    no_keys = runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/k"])
    assert no_keys.exit_code != 0 and "no S3 keys" in no_keys.output
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    away = runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/k"])
    assert away.exit_code != 0 and "cannot reach the S3 endpoint" in away.output


def test_keep_rules_keep_the_newest_of_each_day_and_week():
    made = [
        (datetime(2026, 12, day, hour), f"p/crm_backup_202612{day:02d}_{hour:02d}0000.dump")
        for day in range(1, 22)
        for hour in (1, 13)
    ]
    kept = offsite.to_keep(made, daily=3, weekly=3)
    assert kept == {
        "p/crm_backup_20261221_130000.dump",  # the newest day's newest (a Monday: its week's)
        "p/crm_backup_20261220_130000.dump",  # also the newest of the week before
        "p/crm_backup_20261219_130000.dump",
        "p/crm_backup_20261213_130000.dump",  # the week before that: its Sunday's newest
    }


def test_prune_deletes_what_the_rules_do_not_keep(ops_app: Flask, s3):
    for day in (1, 2, 3):
        name = f"k/crm_backup_202611{day:02d}_030000.dump"
        s3.put_object(Bucket=BUCKET, Key=name, Body=b"PGDMP")
        s3.put_object(Bucket=BUCKET, Key=name + ".manifest.json", Body=b"{}")
    gone = offsite.prune(offsite.parse(f"s3://{BUCKET}/k"), daily=1, weekly=1)
    assert gone == ["k/crm_backup_20261102_030000.dump", "k/crm_backup_20261101_030000.dump"]
    assert keys(s3) == [
        "k/crm_backup_20261103_030000.dump",
        "k/crm_backup_20261103_030000.dump.manifest.json",
    ]


def scratch_databases(app: Flask) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'crm_drill_%'")
            )
        )


def test_a_drill_restores_the_newest_archive_and_records_it(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    before = scratch_databases(ops_app)
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/v"]).exit_code == 0
    drilled = runner.invoke(args=["crm", "backup", "--verify", "--upload", f"s3://{BUCKET}/v"])
    assert drilled.exit_code == 0, drilled.output
    assert "every count and checksum as in its manifest" in drilled.output
    with ops_app.app_context():
        check = db.session.scalar(select(BackupCheck).order_by(BackupCheck.id.desc()))
        assert check.ok and check.archive.startswith(f"s3://{BUCKET}/v/crm_backup_")
        assert check.tables > 30 and check.total_rows > 0
    assert scratch_databases(ops_app) <= before  # the scratch database is dropped


def test_a_drill_names_what_differs_and_fails(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/f"]).exit_code == 0
    (_archive, manifest) = keys(s3)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest)["Body"].read())
    stored["tables"]["customers"][0] += 1  # the manifest now expects one more customer
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps(stored).encode())
    failed = runner.invoke(args=["crm", "backup", "--verify", "--upload", f"s3://{BUCKET}/f"])
    assert failed.exit_code != 0
    assert "did NOT restore as its manifest says: customers:" in failed.output
    with ops_app.app_context():
        check = db.session.scalar(select(BackupCheck).order_by(BackupCheck.id.desc()))
        assert not check.ok and "customers" in check.detail


def test_healthz_and_the_admin_home_show_the_last_drill(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    client = ops_app.test_client()
    with ops_app.app_context():
        db.session.execute(text("DELETE FROM backup_checks"))
        db.session.commit()
    assert client.get("/healthz").get_json()["backup"] == {"verified_at": None, "ok": None}
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/h"]).exit_code == 0
    assert (
        runner.invoke(args=["crm", "backup", "--verify", "--upload", f"s3://{BUCKET}/h"]).exit_code
        == 0
    )
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["backup"]["ok"] is True
    assert health["backup"]["verified_at"].endswith("Z")


def test_the_scheduled_backup_and_drill_jobs_run_on_a_worker(ops_app: Flask, s3, monkeypatch):
    from crm.jobs import tasks, worker
    from crm.jobs.queue import enqueue
    from crm.models import JobRun

    monkeypatch.setitem(ops_app.config, "BACKUP_TARGET", f"s3://{BUCKET}/jobs")
    with ops_app.app_context():
        backup_id = enqueue("crm.backup", "Off-site backup")
        db.session.commit()
    worker.run(ops_app, wait=False)
    with ops_app.app_context():
        drill_id = enqueue("crm.backup_verify", "Restore drill")
        db.session.commit()
    worker.run(ops_app, wait=False)
    tasks._apps.clear()
    with ops_app.app_context():
        made = db.session.get(JobRun, backup_id).result
        assert made["archive"].startswith(f"s3://{BUCKET}/jobs/crm_backup_") and made["rows"] > 0
        drilled = db.session.get(JobRun, drill_id).result
        assert drilled == {"archive": made["archive"], "ok": True, "rows": made["rows"]}


def test_backup_settings_are_checked_at_start(ops_app: Flask):
    from crm import StartupError, create_app

    uri = ops_app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(StartupError, match="BACKUP_SCHEDULE is set but BACKUP_TARGET is not"):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": uri, "BACKUP_SCHEDULE": "0 2 * * *"})
    with pytest.raises(StartupError, match="BACKUP_TARGET: 'ftp://x' is not an S3 address"):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": uri, "BACKUP_TARGET": "ftp://x"})


def test_prune_keeps_to_its_own_prefix_and_never_the_archive_just_made(ops_app: Flask, s3):
    def put(key: str, manifest: bool = True) -> None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"PGDMP")
        if manifest:
            s3.put_object(Bucket=BUCKET, Key=key + ".manifest.json", Body=b"{}")

    put("a/crm_backup_20261101_030000.dump")
    put("a/crm_backup_20261031_030000.dump")
    put("a/old/crm_backup_20261001_030000.dump")
    put("a/staging/crm_backup_20261102_030000.dump")
    put("a/crm_backup_20261020_030000.dump", manifest=False)  # an upload cut off: an orphan
    gone = offsite.prune(
        offsite.parse(f"s3://{BUCKET}/a"), 1, 1, keep="a/crm_backup_20261031_030000.dump"
    )
    assert sorted(gone) == ["a/crm_backup_20261020_030000.dump"]
    assert "a/old/crm_backup_20261001_030000.dump" in keys(s3)
    assert "a/staging/crm_backup_20261102_030000.dump" in keys(s3)


def test_keep_rules_below_one_stop_the_start(ops_app: Flask):
    from crm import StartupError, create_app

    uri = ops_app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(StartupError, match="BACKUP_KEEP_DAILY must be at least 1"):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": uri, "BACKUP_KEEP_DAILY": 0})


def test_a_damaged_newest_archive_is_a_failed_drill_on_healthz(ops_app: Flask, s3):
    runner = ops_app.test_cli_runner()
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/x"]).exit_code == 0
    (archive, _manifest) = keys(s3)
    body = s3.get_object(Bucket=BUCKET, Key=archive)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=archive, Body=body[:1000])
    failed = runner.invoke(args=["crm", "backup", "--verify", "--upload", f"s3://{BUCKET}/x"])
    assert failed.exit_code != 0 and "SHA-256" in failed.output
    health = ops_app.test_client().get("/healthz").get_json()
    assert health["backup"]["ok"] is False


def test_a_failure_while_counting_leaves_no_half_archive(ops_app: Flask, s3, monkeypatch):
    import psycopg

    from crm.maintenance import manifest

    def cancelled(_conn):
        raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

    monkeypatch.setattr(manifest, "counted", cancelled)
    result = ops_app.test_cli_runner().invoke(
        args=["crm", "backup", "--upload", f"s3://{BUCKET}/c"]
    )
    assert result.exit_code != 0 and "cannot read the database to back it up" in result.output
    assert "Traceback" not in result.output and keys(s3) == []


def test_an_endpoint_without_a_scheme_gets_one_line(ops_app: Flask, s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "minio:9000")
    result = ops_app.test_cli_runner().invoke(
        args=["crm", "backup", "--upload", f"s3://{BUCKET}/e"]
    )
    assert result.exit_code != 0 and "set AWS_ENDPOINT_URL to an address" in result.output


def test_a_drill_job_that_finds_differences_fails_on_the_jobs_page(ops_app: Flask, s3, monkeypatch):
    from crm.jobs import tasks, worker
    from crm.jobs.queue import enqueue
    from crm.models import JobRun, procrastinate_jobs

    runner = ops_app.test_cli_runner()
    assert runner.invoke(args=["crm", "backup", "--upload", f"s3://{BUCKET}/j"]).exit_code == 0
    (_archive, manifest) = keys(s3)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest)["Body"].read())
    stored["tables"]["users"][0] += 1
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps(stored).encode())
    monkeypatch.setitem(ops_app.config, "BACKUP_TARGET", f"s3://{BUCKET}/j")
    with ops_app.app_context():
        job_id = enqueue("crm.backup_verify", "Restore drill")
        db.session.commit()
    worker.run(ops_app, wait=False)
    tasks._apps.clear()
    with ops_app.app_context():
        error = db.session.get(JobRun, job_id).last_error
        assert error.startswith("BackupError: s3://crm-backups/j/crm_backup_") and "users:" in error
        status = db.session.scalar(
            select(procrastinate_jobs.c.status).where(procrastinate_jobs.c.id == job_id)
        )
        assert status in ("todo", "failed")  # retried once later, then failed
        check = db.session.scalar(select(BackupCheck).order_by(BackupCheck.id.desc()))
        assert not check.ok
