"""Backups in any S3-compatible store (boto3): streamed up, checked, fetched, pruned.

Configured the way boto3 always is: ``AWS_ENDPOINT_URL`` (any S3-compatible
server), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
An upload streams pg_dump's output straight into a multipart upload (no local
copy), hashing it on the way; then the object is read back and its SHA-256
compared, and only then is the manifest stored beside it
(``<archive>.manifest.json``): an archive without a manifest never finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import boto3
import psycopg
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from sqlalchemy.engine import URL

from crm.maintenance import manifest as manifests
from crm.maintenance.backup import BackupError, default_name, dump_command, run_tool, sha256_of

# An archive's file name: the local naming, and for uploads a random suffix (two
# uploads in one second never share a key).
NAME = re.compile(r"crm_backup_(\d{8})_(\d{6})(?:_[0-9a-f]{6})?\.dump")
ORPHAN_HOURS = 24  # an archive without its manifest this old never finished: pruned
MANIFEST = ".manifest.json"
# Multipart parts of 16 MB, at most 4 in memory: pg_dump's stream cannot be seeked, so
# s3transfer buffers what it sends (64 MB here; the 10,000-part limit is 160 GB).
TRANSFER = TransferConfig(multipart_chunksize=16 * 1024 * 1024, max_concurrency=4)
TRANSFER.max_in_memory_upload_chunks = 4  # s3transfer's setting; boto3's init lacks it


@dataclass(frozen=True)
class Target:
    """A place for archives: ``s3://bucket/prefix``."""

    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        """The object key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse(text: str) -> Target:
    """``s3://bucket/prefix`` as a Target; ValueError with what to write instead."""
    found = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", text.strip())
    if not found:
        raise ValueError(
            f"{text[:100]!r} is not an S3 address: write s3://bucket/prefix (a bucket name of "
            "3–63 lower-case letters, digits, dots and hyphens)"
        )
    return Target(found[1], (found[2] or "").strip("/"))


def split(text: str) -> tuple[Target, str]:
    """``s3://bucket/prefix/file.dump`` as (its place, the file's name)."""
    place = parse(text)
    prefix, _, name = place.prefix.rpartition("/")
    if not NAME.fullmatch(name):
        raise ValueError(
            f"{text[:100]!r} does not name an archive: give the full address of a "
            "crm_backup_YYYYmmdd_HHMMSS.dump file"
        )
    return Target(place.bucket, prefix), name


def _client(target: Target) -> Any:
    """An S3 client from the environment as it is now (a new session: nothing cached).

    Gives up on an endpoint that does not answer within 10 s (three tries), rather than
    botocore's minutes.
    """
    try:
        return boto3.session.Session().client(
            "s3", config=Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
        )
    except ValueError as exc:  # AWS_ENDPOINT_URL=minio:9000, without its scheme
        raise BackupError(
            f"cannot use the S3 endpoint for {target} ({exc}); set AWS_ENDPOINT_URL to an "
            "address such as https://s3.example.com"
        ) from None


def _explained(error: Exception, target: Target) -> BackupError:
    """One line for whatever S3 answered (or did not)."""
    if isinstance(error, EndpointConnectionError):
        return BackupError(
            f"cannot reach the S3 endpoint for {target} ({error}); check AWS_ENDPOINT_URL"
        )
    if isinstance(error, NoCredentialsError):
        return BackupError("no S3 keys: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            return BackupError(f"the bucket {target.bucket!r} does not exist; create it first")
        if code == "AccessDenied":
            return BackupError(
                f"S3 denied access to {target}: check the keys' permissions and the bucket's policy"
            )
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return BackupError(
                f"S3 refused the keys for {target} ({code}); check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        if code in ("NoSuchKey", "NotFound", "404"):
            return BackupError(f"no such archive in {target}")
        return BackupError(f"S3 answered {code or 'an error'} for {target}")
    return BackupError(f"S3 failed for {target} ({error})")


class _Hashing:
    """A readable stream that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.size, self.digest = stream, 0, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.size += len(chunk)
        self.digest.update(chunk)
        return chunk


@dataclass(frozen=True)
class Uploaded:
    """An archive in the store: where, its manifest, how long it took."""

    key: str
    manifest: manifests.Manifest
    seconds: float


def upload(url: URL, target: Target, step: Callable[[str], None] | None = None) -> Uploaded:
    """Stream a new archive of the database to ``target``, check it, store its manifest."""
    s3 = _client(target)
    name = default_name().replace(".dump", f"_{secrets.token_hex(3)}.dump")
    key = target.key(name)
    started = time.monotonic()
    hashing: list[_Hashing] = []

    def sink(stream: IO[bytes]) -> None:
        hashing.append(_Hashing(stream))
        s3.upload_fileobj(hashing[0], target.bucket, key, Config=TRANSFER)

    try:
        with manifests.snapshot(url) as (conn, snapshot):
            found = manifests.new(url.database or "")
            run_tool(dump_command(url, snapshot), url, step, sink)
            found.tables = manifests.counted(conn)
        found.size, found.sha256 = hashing[0].size, hashing[0].digest.hexdigest()
        stored = _sha256_of_object(s3, target.bucket, key)
        if stored != found.sha256:
            s3.delete_object(Bucket=target.bucket, Key=key)
            raise BackupError(
                "the uploaded archive's SHA-256 differs from what was sent; it was deleted "
                f"from {target}"
            )
        s3.put_object(
            Bucket=target.bucket,
            Key=key + MANIFEST,
            Body=found.to_json().encode(),
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError) as exc:
        _forget(s3, target, key)
        raise _explained(exc, target) from None
    except psycopg.Error as exc:  # counting in the snapshot failed: no half archive left
        _forget(s3, target, key)
        raise BackupError(f"cannot read the database to back it up ({exc})".strip()) from None
    except BaseException:
        _forget(s3, target, key)
        raise
    return Uploaded(key, found, time.monotonic() - started)


def _forget(s3: Any, target: Target, key: str) -> None:
    """Delete what a failed upload may have left (best effort: the store may be away)."""
    with contextlib.suppress(BotoCoreError, ClientError):
        s3.delete_object(Bucket=target.bucket, Key=key)


def _sha256_of_object(s3: Any, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in body.iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _listed(target: Target) -> tuple[dict[str, datetime], set[str]]:
    """The archives right under the prefix (not in folders below it), and those with a manifest."""
    s3, found, manifested = _client(target), {}, set()
    prefix = target.key("")
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=target.bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(prefix) :]
                if name.endswith(MANIFEST):
                    manifested.add(key[: -len(MANIFEST)])
                elif match := NAME.fullmatch(name):
                    found[key] = datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S")
    except (BotoCoreError, ClientError) as exc:
        raise _explained(exc, target) from None
    return found, manifested


def archives(target: Target) -> list[tuple[datetime, str]]:
    """(when made, key) of every finished archive (one with a manifest), newest first."""
    found, manifested = _listed(target)
    return sorted(((when, key) for key, when in found.items() if key in manifested), reverse=True)


def to_keep(made: list[tuple[datetime, str]], daily: int, weekly: int) -> set[str]:
    """The newest archive of each of the last ``daily`` days and ``weekly`` ISO weeks."""
    days: dict[Any, str] = {}
    weeks: dict[Any, str] = {}
    for when, key in sorted(made, reverse=True):
        if when.date() not in days and len(days) < daily:
            days[when.date()] = key
        week = when.isocalendar()[:2]
        if week not in weeks and len(weeks) < weekly:
            weeks[week] = key
    return set(days.values()) | set(weeks.values())


def prune(target: Target, daily: int, weekly: int, keep: str | None = None) -> list[str]:
    """Delete the archives (and manifests) the keep rules no longer keep; their keys.

    ``keep``: an archive never deleted (the one just uploaded). Archives left without a
    manifest for ORPHAN_HOURS (an upload cut off) go too.
    """
    found, manifested = _listed(target)
    made = sorted(((w, k) for k, w in found.items() if k in manifested), reverse=True)
    kept = to_keep(made, max(daily, 1), max(weekly, 1)) | {keep}
    stale = datetime.now() - timedelta(hours=ORPHAN_HOURS)
    gone = [key for _when, key in made if key not in kept]
    gone += [k for k, when in found.items() if k not in manifested and when < stale and k != keep]
    s3 = _client(target)
    try:
        for key in gone:
            answer = s3.delete_objects(
                Bucket=target.bucket,
                Delete={"Objects": [{"Key": key}, {"Key": key + MANIFEST}]},
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise BackupError(
                    f"S3 did not delete {first.get('Key')} ({first.get('Code')}); "
                    "check the keys' permission to delete"
                )
    except (BotoCoreError, ClientError) as exc:
        raise _explained(exc, target) from None
    return gone


def fetch(target: Target, name: str, into: Path) -> tuple[Path, manifests.Manifest]:
    """Download an archive and its manifest into ``into``; the SHA-256 checked."""
    s3, key = _client(target), target.key(name)
    path = into / name
    try:
        text = s3.get_object(Bucket=target.bucket, Key=key + MANIFEST)["Body"].read().decode()
        s3.download_file(target.bucket, key, str(path))
    except (BotoCoreError, ClientError) as exc:
        raise _explained(exc, target) from None
    try:
        found = manifests.Manifest.from_json(text)
    except ValueError as exc:
        raise BackupError(f"{name}'s manifest cannot be read ({exc})") from None
    if sha256_of(path) != found.sha256:
        raise BackupError(
            f"{name} does not match its manifest's SHA-256: the copy is damaged; nothing "
            "was changed"
        )
    return path, found


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for a fetched archive (removed afterwards)."""
    return tempfile.TemporaryDirectory(prefix="crm-restore-")
