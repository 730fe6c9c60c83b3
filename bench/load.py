"""Concurrent signed-in clients against gunicorn, optionally through a database restart.

    python -m bench.load [--scale 1] [--clients 16] [--seconds 60] [--restart-at 30]

On the bench database (bench/pages.py builds it once), gunicorn serves the app
with the project's own ``gunicorn.conf.py`` (its worker count: 2 per core + 1),
production settings, and Redis for the rate limits (``--redis``, default
redis://127.0.0.1:6379/15). N clients sign in as a mix of the admin, the manager,
support and two sales reps (a small book, a big book) and request pages from
their role's mix for T seconds, one after another without pause; every tenth
request of the admin, the manager and the reps is an audited edit (open the
form, post a change with its version and CSRF token).

It prints throughput, p50/p95/p99 per page, and the status counts. With
``--restart-at S`` it restarts PostgreSQL S seconds in (``pg_ctl restart -m
fast`` on the embedded server, or ``--restart-command``) and also prints how
long the database was away, how long after it was back every request succeeded
again, and the check that every save a client saw succeed has its audit row.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.pages import ROOT, build, database_url, free_port
from bench.roles import Role, pages, roles

# Pages each role asks for, by label in bench.roles.pages (repeats weigh more).
MIX = {
    "admin": [
        "home", "customers page 1", "leads page 1", "tasks page 1", "interactions page 1",
        "customers page 50", "a customer's details", "a lead's edit form", "audit page 1",
        "a record's history", "search: common word (renewal)", "pipeline funnel",
        "pipeline board", "customers: industry filter",
    ],
    "manager": [
        "home", "home", "pipeline funnel", "pipeline funnel", "pipeline board", "leads page 1",
        "leads: stage filter", "customers page 1", "audit page 1", "a lead's details",
        "search: 3-letter prefix (smi)",
    ],
    "support": [
        "audit page 1", "audit page 1", "a record's history", "customers page 1",
        "a customer's details", "interactions page 1", "search: an email", "home",
    ],
    "rep": [
        "home", "home", "customers page 1", "leads page 1", "tasks page 1",
        "interactions page 1", "interactions page 1", "interactions: search 'call'",
        "a customer's details", "pipeline board", "pipeline funnel",
        "search: common word (renewal)",
    ],
}  # fmt: skip
EDIT_EVERY = 10  # every tenth request of an editing role is a save
EDITORS = ("admin", "manager", "rep-small", "rep-big")


@dataclass
class Sample:
    """One request's outcome."""

    label: str
    started: float  # seconds since the run began
    ms: float
    status: int


@dataclass
class Saved:
    """A save the client saw succeed: this value must have its audit row."""

    customer: int
    notes: str


@dataclass
class Client:
    """One signed-in person making requests on a connection of their own."""

    person: Role
    paths: dict[str, str]
    host: str
    port: int
    edit_id: int | None
    cookie: str = ""
    samples: list[Sample] = field(default_factory=list)
    saved: list[Saved] = field(default_factory=list)
    stale: int = 0
    last_text: str = ""

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, data, headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            # The session cookie is Secure in production: kept by hand over plain HTTP.
            for header, value in response.getheaders():
                if header.lower() == "set-cookie" and value.startswith("crm_session="):
                    self.cookie = value.split(";", 1)[0]
            return response.status, text
        except OSError:
            return 0, ""  # connection refused or reset: counted as status 0
        finally:
            connection.close()

    def sign_in(self) -> None:
        _status, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"email": self.person.email, "password": self.person.password}
        status, _ = self.request("POST", "/login", {**form, "csrf_token": token, "next": ""})
        if status != 302:
            raise SystemExit(f"could not sign in as {self.person.email} ({status})")

    def timed(self, label: str, method: str, path: str, began: float, **kw: object) -> str:
        started = time.perf_counter()
        status, text = self.request(method, path, **kw)  # type: ignore[arg-type]
        done = time.perf_counter()
        self.samples.append(Sample(label, started - began, (done - started) * 1000, status))
        self.last_text = text
        return text if status == 200 else ""

    def edit(self, began: float, n: int) -> None:
        """Open a customer's edit form, change its notes, save: an audited update."""
        path = f"/admin/customers/edit/?id={self.edit_id}"
        page = self.timed("edit: open form", "GET", path, began)
        version = re.search(r'name="version" type="hidden" value="(\d+)"', page)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if not (version and token):
            return
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        notes = f"load test {self.person.key} {os.getpid()} {n} {time.time():.6f}"
        form = {k: v for k, v in fields.items() if not k.startswith("_") and k != "q"}
        form.update(notes=notes, version=version.group(1), csrf_token=token.group(1))
        form["industry"] = (
            re.search(
                r'<select[^>]*name="industry".*?(?:selected value="([^"]*)"|</select>)', page, re.S
            ).group(1)
            or ""
        )
        before = len(self.samples)
        self.timed("edit: save (POST)", "POST", path, began, body=form)
        if self.samples[before].status == 302:
            self.saved.append(Saved(self.edit_id, notes))
        elif "Not saved:" in self.last_text:
            self.stale += 1  # another client saved the same record first: refused, as it must

    def run(self, began: float, until: float, seed: int) -> None:
        pick = random.Random(seed)
        mix = MIX["rep" if self.person.key.startswith("rep") else self.person.key]
        labels = [label for label in mix if self.paths.get(label)]
        n = 0
        while time.perf_counter() < until:
            n += 1
            if self.edit_id and self.person.key in EDITORS and n % EDIT_EVERY == 0:
                self.edit(began, n)
                continue
            label = pick.choice(labels)
            self.timed(label, "GET", self.paths[label], began)


def serve(url: str, port: int, redis: str, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn with the project's gunicorn.conf.py and production settings."""
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "SECRET_KEY": "bench-load-not-secret",
        "DATABASE_URL": url,
        "BIND": f"127.0.0.1:{port}",
        "RATELIMIT_STORAGE_URI": redis,
        # Every client signs in from 127.0.0.1: the per-address limit is for people.
        "LOGIN_RATE_LIMIT_PER_IP": "1000 per minute",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    for _ in range(150):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"gunicorn did not start; see {log}")


def restart_command(url: str) -> list[str]:
    """``pg_ctl restart -m fast`` for the embedded server (its socket is its data dir)."""
    from sqlalchemy.engine import make_url

    from crm.maintenance.backup import bundled

    host = make_url(url).query.get("host")
    if not isinstance(host, str) or not (Path(host) / "PG_VERSION").is_file():
        raise SystemExit("not the embedded server: pass --restart-command")
    command = [str(bundled("pg_ctl")), "restart", "-m", "fast", "-w", "-D", host]
    if os.geteuid() == 0:  # as root, the package runs the server as its own user
        owner = Path(host).owner()
        command = ["runuser", "-u", owner, "--", *command]
    return command


def restart(command: list[str], dsn: str, began: float, marks: dict[str, float]) -> None:
    """Restart PostgreSQL; note when it went away and when it answered again."""
    marks["stop"] = time.perf_counter() - began
    # Not captured: the restarted server inherits the command's output and keeps it
    # open, so a pipe would never close.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=1).close()
            break
        except psycopg.OperationalError:
            time.sleep(0.05)
    marks["back"] = time.perf_counter() - began


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(samples: list[Sample], seconds: float, clients: int, workers: str) -> None:
    print(
        f"\n{clients} clients for {seconds:.0f} s against gunicorn ({workers} workers, "
        f"gunicorn.conf.py): {len(samples):,} requests, "
        f"**{len(samples) / seconds:.1f} requests/s**.\n"
    )
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_label[sample.label].append(sample)
    print("| page | requests | p50 ms | p95 ms | p99 ms | statuses |")
    print("|---|---:|---:|---:|---:|---|")
    for label, group in sorted(by_label.items()):
        ms = [s.ms for s in group]
        statuses = ", ".join(
            f"{k}: {v}" for k, v in sorted(Counter(s.status for s in group).items())
        )
        print(
            f"| {label} | {len(group)} | {percentile(ms, 0.5):.0f} | {percentile(ms, 0.95):.0f} "
            f"| {percentile(ms, 0.99):.0f} | {statuses} |"
        )
    everything = [s.ms for s in samples]
    statuses = Counter(s.status for s in samples)
    print(
        f"| **all** | {len(samples)} | {percentile(everything, 0.5):.0f} "
        f"| {percentile(everything, 0.95):.0f} | {percentile(everything, 0.99):.0f} "
        f"| {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} |"
    )


def report_outage(samples: list[Sample], marks: dict[str, float], log: Path) -> None:
    failed = [s for s in samples if s.status not in (200, 302)]
    after = [s for s in failed if s.started + s.ms / 1000 > marks["back"]]
    last_failure = max((s.started + s.ms / 1000 for s in after), default=marks["back"])
    statuses = Counter(s.status for s in failed)
    lines = log.read_text(errors="replace").splitlines()
    database_lines = [line for line in lines if "database" in line and '"path"' not in line]
    tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    print(
        f"\nPostgreSQL restarted at {marks['stop']:.1f} s; accepting connections again "
        f"{marks['back'] - marks['stop']:.1f} s later. Failed requests: "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items())) or 'none'} "
        f"(HTTP 500: {statuses.get(500, 0)}). Every request succeeded again "
        f"**{max(0.0, last_failure - marks['back']):.2f} s** after the database was back. "
        f"Log: {len(database_lines)} lines about the database, {tracebacks} tracebacks:"
    )
    for line in database_lines[:12]:
        print(f"    {line}")


def check_saves(dsn: str, saved: list[Saved], stale: int) -> None:
    """Every save a client saw succeed (302) has its audit row with the value saved."""
    with psycopg.connect(dsn) as conn:
        missing = [
            s
            for s in saved
            if not conn.execute(
                "SELECT 1 FROM audit_logs WHERE table_name = 'customers' AND record_id = %s "
                "AND action = 'UPDATE' AND new_values ->> 'notes' = %s",
                (s.customer, s.notes),
            ).fetchone()
        ]
    print(
        f"\nSaves that succeeded: {len(saved)}; with their audit row: "
        f"{len(saved) - len(missing)}; missing: **{len(missing)}**. Saves refused because "
        f"another client had saved the same record first (optimistic lock): {stale}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--restart-at", type=float, default=None, help="restart PostgreSQL then")
    parser.add_argument("--restart-command", default=None, help="instead of pg_ctl restart")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    url = database_url(args.scale)
    build(url, args.scale)
    dsn = url.replace("+psycopg", "")
    command = None
    if args.restart_at is not None:
        command = args.restart_command.split() if args.restart_command else restart_command(url)
    with psycopg.connect(dsn) as conn:
        people = roles(conn)
        paths = {p.key: pages(conn, p) for p in people}
        # A customer of their own for each client to edit, so saves never collide.
        editable = {
            p.key: [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM customers WHERE (owner_id = %s OR %s) "
                    "ORDER BY id DESC LIMIT 20",
                    (p.user_id, not p.key.startswith("rep")),
                )
            ]
            for p in people
        }
    port = free_port()
    log = ROOT / "instance" / "bench-load-gunicorn.log"
    server = serve(url, port, args.redis, log)
    clients = []
    for n in range(args.clients):
        person = people[n % len(people)]
        mine = editable[person.key]
        edit_id = mine[n % len(mine)] if mine else None  # the small book's one: shared
        client = Client(person, paths[person.key], "127.0.0.1", port, edit_id)
        client.sign_in()
        clients.append(client)
    marks: dict[str, float] = {}
    try:
        began = time.perf_counter()
        until = began + args.seconds
        threads = [
            threading.Thread(target=c.run, args=(began, until, n), daemon=True)
            for n, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        if command is not None:
            time.sleep(max(0.0, began + args.restart_at - time.perf_counter()))
            restart(command, dsn, began, marks)
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    samples = [s for c in clients for s in c.samples]
    workers = os.environ.get("WEB_CONCURRENCY") or str(multiprocessing.cpu_count() * 2 + 1)
    report(samples, elapsed, args.clients, workers)
    if marks:
        report_outage(samples, marks, log)
    check_saves(dsn, [s for c in clients for s in c.saved], sum(c.stale for c in clients))
    print(f"\nServer log: {log}")


if __name__ == "__main__":
    main()
