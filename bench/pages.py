"""Time the admin pages over HTTP on a scale-S database (issues 4 and 5's targets).

    python -m bench.pages [--scale 1] [--requests 20]

Builds the database ``crm_bench_<scale>`` once (migrate, seed, demo-data) on the
embedded server, or on the server DATABASE_URL names, and reuses it afterwards.
Serves the app with one gunicorn worker on loopback, signs in as the admin,
warms each page up, then times 20 requests per page and prints median and p95
as a markdown table.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 5


def database_url(scale: float) -> str:
    """The bench database's URL, creating the database if needed."""
    from config import Config
    from crm.db import server as database

    name = "crm_bench_" + f"{scale:g}".replace(".", "_")
    if Config.DATABASE_URL:
        server = database.parse_database_url(Config.DATABASE_URL)
    else:
        server = database.embedded_server_url(ROOT / "instance")
    return database.ensure_database(server, name).render_as_string(hide_password=False)


def flask(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "CRM_ENV": "development"}
    subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, check=True)


def has_demo_data(url: str) -> bool:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        found = conn.execute(
            "SELECT 1 FROM users WHERE email LIKE '%@demo.crm.example' LIMIT 1"
        ).fetchone()
    return found is not None


def build(url: str, scale: float) -> None:
    """Migrate, seed and load demo data unless this database already has it."""
    flask(url, "db", "upgrade")
    flask(url, "crm", "seed")
    if not has_demo_data(url):
        flask(url, "crm", "demo-data", "--scale", str(scale))  # shows its progress bar
        # A fresh load: set the visibility map and statistics, as autovacuum would.
        print("VACUUM ANALYZE (once, after a fresh load)…")
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "CRM_ENV": "development"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def signed_in_opener(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"email": "admin@crm.com", "password": "admin123", "csrf_token": token, "next": ""}
    opener.open(f"{base}/login", urllib.parse.urlencode(form).encode())
    assert "Sign in" not in opener.open(f"{base}/admin/").read().decode()
    return opener


def pages(url: str) -> dict[str, str]:
    """The pages to time, with real ids and a real surname from the data."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        lead = conn.execute("SELECT max(id) FROM leads").fetchone()[0]
        customer = conn.execute("SELECT customer_id FROM leads WHERE id = %s", (lead,)).fetchone()[
            0
        ]
        surname = conn.execute(
            "SELECT split_part(name, ' ', 2) FROM customers WHERE id = %s", (customer,)
        ).fetchone()[0]
        # Search: a company word few records share, the commonest word of lead texts,
        # the first three letters of a surname, and one customer's email.
        rare, email = conn.execute(
            "SELECT company, email FROM customers WHERE company LIKE '%-%' ORDER BY id LIMIT 1"
        ).fetchone()
        common = conn.execute(
            "SELECT word FROM ts_stat($$SELECT to_tsvector('english', coalesce(description, ''))"
            " FROM leads TABLESAMPLE SYSTEM (0.2) REPEATABLE (1)$$) "
            "ORDER BY ndoc DESC, word LIMIT 1"
        ).fetchone()[0]
        # The demo's history: a customer with recorded changes, a demo user who made many.
        audited, busiest = conn.execute(
            "SELECT record_id, user_id FROM audit_logs WHERE table_name = 'customers' "
            "AND user_id IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
    industry_filter = "flt0_industry_equals"
    month = "flt1_when_between=" + urllib.parse.quote_plus(
        time.strftime("%Y-%m-%d 00:00:00", time.gmtime(time.time() - 30 * 86400))
        + " to "
        + time.strftime("%Y-%m-%d 23:59:59", time.gmtime())
    )
    return {
        "customers page 1": "/admin/customers/",
        "leads page 1": "/admin/leads/",
        "tasks page 1": "/admin/tasks/",
        "interactions page 1": "/admin/interactions/",
        "lead stages page 1": "/admin/lead-stages/",
        "users page 1": "/admin/users/",
        "audit log page 1": "/admin/audit/",
        "customers page 1000": "/admin/customers/?page=999",
        f"customers searched for '{surname}'": f"/admin/customers/?search={surname}",
        "customers filtered by industry": f"/admin/customers/?{industry_filter}=Technology",
        "a lead's edit form": f"/admin/leads/edit/?id={lead}",
        "a customer's details page": f"/admin/customers/details/?id={customer}",
        "a record's history": f"/admin/audit/history/?table=customers&id={audited}",
        "audit log by table and record": (
            f"/admin/audit/?flt0_table_equals=customers&flt1_record_id_equals={audited}"
        ),
        "audit log by user and last 30 days": f"/admin/audit/?flt0_user_equals={busiest}&{month}",
        f"search: a rare word ({rare})": "/admin/search/?" + urllib.parse.urlencode({"q": rare}),
        f"search: a common word ({common})": f"/admin/search/?q={common}",
        f"search: a 3-letter prefix ({surname[:3].lower()})": (
            f"/admin/search/?q={surname[:3].lower()}"
        ),
        "search: an exact email": "/admin/search/?" + urllib.parse.urlencode({"q": email}),
        "home dashboard (admin)": "/admin/",
        "pipeline funnel, all owners": "/admin/pipeline/",
        "pipeline funnel, one owner": f"/admin/pipeline/?owner={busiest}",
        "pipeline board, all owners": "/admin/pipeline/board",
        "pipeline funnel, created in the last year": (
            "/admin/pipeline/?created_from="
            + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
        ),
    }


def time_page(opener: urllib.request.OpenerDirector, url: str, runs: int) -> list[float]:
    for _ in range(WARM_UP):
        opener.open(url).read()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = opener.open(url)
        response.read()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, url
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    url = database_url(args.scale)
    build(url, args.scale)
    port = free_port()
    server = serve(url, port)
    try:
        base = f"http://127.0.0.1:{port}"
        opener = signed_in_opener(base)
        print(
            f"\nScale {args.scale:g}; one gunicorn worker; {args.requests} timed requests "
            f"after {WARM_UP} warm-up, per page.\n"
        )
        print("| page | median ms | p95 ms |")
        print("|---|---:|---:|")
        for label, path in pages(url).items():
            timings = sorted(time_page(opener, base + path, args.requests))
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            print(f"| {label} | {statistics.median(timings):.1f} | {p95:.1f} |")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
