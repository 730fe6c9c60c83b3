"""The JSON API as every role, and webhook delivery latency (issue 20's figures).

    python -m bench.api [--scale 1] [--requests 20] [--events 50]

On the bench database (bench/pages.py builds it once), one gunicorn worker serves
the app; each role of bench/roles.py gets a read token. Each endpoint is warmed
up, then timed (median / p95 ms). Then a webhook on a loopback receiver, a real
worker (``flask crm worker``), and ``--events`` customer updates, one at a time:
the time from each update's commit to its signed delivery arriving; then one
statement updating 1,000 customers, and the time until all 1,000 have arrived.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from bench.pages import ROOT, WARM_UP, build, database_url, free_port, serve
from bench.roles import Role, roles, table

BURST = 1_000


def token_for(conn: psycopg.Connection, person: Role) -> str:
    """A fresh read token for ``person`` (stored as the app stores one: its digest)."""
    secret = "crm_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_tokens (user_id, name, scope, token_hash, prefix, expires_at) "
        "VALUES (%s, 'bench', 'read', %s, %s, now() + interval '1 day')",
        (person.user_id, hashlib.sha256(secret.encode()).hexdigest(), secret[:12]),
    )
    conn.commit()
    return secret


def endpoints(conn: psycopg.Connection, person: Role) -> dict[str, str | None]:
    """Label -> path under /api/v1 for ``person``."""
    customer, lead = person.ids["customer"], person.ids["lead"]
    return {
        "customers, first page": "/customers",
        "customers, page 2 (cursor)": "NEXT /customers",
        "customers, status filter": "/customers?status=active&limit=50",
        "customers, ?q=smith": "/customers?q=smith",
        "a customer": customer and f"/customers/{customer}",
        "leads, first page": "/leads",
        "leads, page 2 (cursor)": "NEXT /leads",
        "leads, ?q=renewal": "/leads?q=renewal",
        "a lead": lead and f"/leads/{lead}",
        "tasks, first page": "/tasks",
        "interactions, first page": "/interactions",
        "lead stages": "/lead_stages",
        "audit rows, first page": "/audit_logs",
        "pipeline figures": "/pipeline",
    }


def fetch(base: str, path: str, secret: str) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def time_endpoint(base: str, path: str, secret: str, runs: int) -> str:
    if path.startswith("NEXT "):
        status, first = fetch(base, path[5:], secret)
        if status != 200 or not first["next"]:
            return "(one page)"
        path = f"{path[5:]}?after={first['next']}"
    for _ in range(WARM_UP):
        status, _body = fetch(base, path, secret)
    if status == 403:
        return "—"
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        status, _body = fetch(base, path, secret)
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200, (path, status)
    p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
    return f"{statistics.median(timings):.1f} / {p95:.1f}"


class Receiver:
    """Loopback HTTP server noting when each delivery arrives."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}  # the customer's version -> when
        self.deliveries: set[int] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.arrived[int(body["data"]["version"])] = time.perf_counter()
                outer.deliveries.add(int(body["id"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def webhook_latency(url: str, events: int) -> tuple[list[float], float]:
    """Commit-to-arrival ms for ``events`` single updates; seconds for a 1,000-row burst."""
    os.environ.update(DATABASE_URL=url, CRM_ENV="development", WEBHOOK_ALLOW_PRIVATE="1")
    from crm import create_app
    from crm.webhooks import signing

    receiver = Receiver()
    with create_app().app_context():
        stored = signing.encrypt(signing.new_secret())
    plain = url.replace("+psycopg", "")
    with psycopg.connect(plain) as conn:
        # A run stopped half-way leaves its webhook: it would post to nobody from now on.
        conn.execute("DELETE FROM webhooks WHERE url ~ '^http://127[.]0[.]0[.]1:[0-9]+/hook$'")
        hook = conn.execute(
            "INSERT INTO webhooks (url, events, secret) VALUES (%s, %s, %s) RETURNING id",
            (receiver.url, ["customer.updated"], stored),
        ).fetchone()[0]
        customer = conn.execute("SELECT max(id) FROM customers").fetchone()[0]
        conn.commit()
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "crm", "worker"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies: list[float] = []
    try:
        time.sleep(3)  # the worker connects and listens
        with psycopg.connect(plain, autocommit=True) as conn:
            for n in range(events):
                version = conn.execute(
                    "UPDATE customers SET city = %s WHERE id = %s RETURNING version",
                    (f"Bench {n}", customer),
                ).fetchone()[0]
                committed = time.perf_counter()
                while version not in receiver.arrived:
                    time.sleep(0.001)
                latencies.append((receiver.arrived[version] - committed) * 1000)
            receiver.deliveries.clear()
            started = time.perf_counter()
            conn.execute(  # a city no run used before: every row really changes
                "UPDATE customers SET city = %s WHERE id IN "
                "(SELECT id FROM customers ORDER BY id DESC LIMIT %s)",
                (f"Burst {time.time():.0f}", BURST),
            )
            while len(receiver.deliveries) < BURST and time.perf_counter() - started < 600:
                time.sleep(0.05)
            burst = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        receiver.server.shutdown()
        receiver.server.server_close()
        with psycopg.connect(plain) as conn:
            conn.execute("DELETE FROM webhooks WHERE id = %s", (hook,))
            conn.commit()
    return latencies, burst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--webhooks-only", action="store_true", help="skip the endpoints")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    url = database_url(args.scale)
    build(url, args.scale)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        people = roles(conn)
        secret = {p.key: token_for(conn, p) for p in people}
        plan = {p.key: endpoints(conn, p) for p in people}
    os.environ["API_RATE_LIMIT"] = "100000 per minute"  # the bench is one client, fast
    port = free_port()
    server = serve(url, port)
    base = f"http://127.0.0.1:{port}/api/v1"
    cells: dict[str, dict[str, str]] = {}
    try:
        for person in [] if args.webhooks_only else people:
            for label, path in plan[person.key].items():
                cell = (
                    "(none theirs)"
                    if path is None
                    else time_endpoint(base, path, secret[person.key], args.requests)
                )
                cells.setdefault(label, {})[person.key] = cell
                print(f"  {person.key:9} {label}: {cell}", file=sys.stderr, flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if cells:
        table(args.scale, args.requests, "endpoint", people, cells)
    latencies, burst = webhook_latency(url, args.events)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"\nWebhooks: commit to signed delivery received, {args.events} single updates: "
        f"median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms; one statement "
        f"updating {BURST:,} customers: all {BURST:,} delivered in {burst:.1f} s."
    )


if __name__ == "__main__":
    main()
