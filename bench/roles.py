"""Every page, as every role: a role × page table of median and p95 milliseconds (issue 13).

    python -m bench.roles [--scale 1] [--requests 20] [--only WORD] [--roles admin,rep-big]

On the bench database (bench/pages.py builds it once), one gunicorn worker on
loopback serves the app; five people sign in: the admin, the manager, support,
a sales rep who owns almost nothing (small.rep@bench.example, made here: one customer) and
the demo rep with the largest book (about 2% of all rows). Each page is warmed
up, then timed; a cell is "median / p95", "—" where the role may not open the
page (a 403, as the role matrix says), and the board's size is printed below
the table. Ids come from the data and are ones the role may read.
"""

from __future__ import annotations

import argparse
import datetime
import http.cookiejar
import re
import signal
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import bcrypt
import psycopg

from bench.pages import ROOT, WARM_UP, build, database_url, free_port, serve
from crm.maintenance.demo_data import DEMO_PASSWORD
from crm.maintenance.seed import SEED_USERS


@dataclass
class Role:
    """A person the bench signs in as, and the records they may read."""

    key: str
    label: str
    email: str
    password: str
    user_id: int = 0
    ids: dict[str, int | None] = field(default_factory=dict)


SMALL_REP = "small.rep@bench.example"
SMALL_REP_PASSWORD = "user123"  # as the README's rep login


def small_rep(conn: psycopg.Connection) -> None:
    """A rep who owns one customer (the demo data gives user@crm.com a whole book)."""
    if conn.execute("SELECT 1 FROM users WHERE email = %s", (SMALL_REP,)).fetchone():
        return
    uid = conn.execute(
        "INSERT INTO users (email, password_hash, name, role) "
        "VALUES (%s, %s, 'Small Book', 'user') RETURNING id",
        (SMALL_REP, bcrypt.hashpw(SMALL_REP_PASSWORD.encode(), bcrypt.gensalt(12)).decode()),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO customers (name, company, owner_id) VALUES ('Only One', 'Small Book Co', %s)",
        (uid,),
    )
    conn.commit()


def roles(conn: psycopg.Connection) -> list[Role]:
    """The five people, with their ids and the records each may open."""
    small_rep(conn)
    big = conn.execute(
        "SELECT u.email FROM users u JOIN customers c ON c.owner_id = u.id "
        "WHERE u.role = 'user' GROUP BY u.email ORDER BY count(*) DESC, u.email LIMIT 1"
    ).fetchone()
    seeded = {user.email: user.demo_password for user in SEED_USERS}
    people = [
        Role(key, key, email, seeded[email])
        for key, email in (
            ("admin", "admin@crm.com"),
            ("manager", "manager@crm.com"),
            ("support", "support@crm.com"),
        )
    ]
    people.append(Role("rep-small", "rep, small book", SMALL_REP, SMALL_REP_PASSWORD))
    if big:
        # The README's rep login has a demo book too, with its own password.
        password = seeded.get(big[0], DEMO_PASSWORD)
        people.append(Role("rep-big", "rep, big book", big[0], password))
    for person in people:
        uid, role = conn.execute(
            "SELECT id, role::text FROM users WHERE email = %s", (person.email,)
        ).fetchone()
        person.user_id = uid
        mine = role == "user"
        owned = "owner_id = %s" if mine else "%s IS NOT NULL"
        person.ids = {
            "customer": _one(conn, f"SELECT max(id) FROM customers WHERE {owned}", uid),
            "lead": _one(conn, f"SELECT max(id) FROM leads WHERE {owned}", uid),
        }
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM customers WHERE owner_id = %s),"
            " (SELECT count(*) FROM leads WHERE owner_id = %s)",
            (uid, uid),
        ).fetchone()
        if mine:
            person.label += f" ({counts[0]:,} customers, {counts[1]:,} leads)"
    return people


def _one(conn: psycopg.Connection, sql: str, *args: object) -> int | None:
    return conn.execute(sql, args).fetchone()[0]


def pages(conn: psycopg.Connection, person: Role) -> dict[str, str | None]:
    """Label → path for ``person`` (None: no record of that kind is theirs)."""
    customer, lead = person.ids["customer"], person.ids["lead"]
    surname = conn.execute(
        "SELECT split_part(name, ' ', 2) FROM customers WHERE company <> 'Small Book Co' "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    rare, email = conn.execute(
        "SELECT company, email FROM customers WHERE company LIKE '%-%' ORDER BY id LIMIT 1"
    ).fetchone()
    proposal = _one(conn, "SELECT min(id) FROM lead_stages WHERE name = 'Proposal'")
    audited = _one(
        conn,
        "SELECT record_id FROM audit_logs WHERE table_name = 'customers' ORDER BY id LIMIT 1",
    )
    found: dict[str, str | None] = {"home": "/admin/"}
    for table in ("customers", "leads", "tasks", "interactions", "lead-stages", "users", "audit"):
        found[f"{table} page 1"] = f"/admin/{table}/"
        if table not in ("lead-stages", "users"):
            found[f"{table} page 50"] = f"/admin/{table}/?page=49"
    found |= {
        f"customers: search '{surname}'": f"/admin/customers/?search={surname}",
        "leads: search 'renewal'": "/admin/leads/?search=renewal",
        "tasks: search 'call'": "/admin/tasks/?search=call",
        "interactions: search 'call'": "/admin/interactions/?search=call",
        "customers: industry filter": "/admin/customers/?flt0_industry_equals=Technology",
        "leads: stage filter": f"/admin/leads/?flt0_stage_equals={proposal}",
        "a customer's details": customer and f"/admin/customers/details/?id={customer}",
        "a customer's edit form": customer and f"/admin/customers/edit/?id={customer}",
        "a lead's details": lead and f"/admin/leads/details/?id={lead}",
        "a lead's edit form": lead and f"/admin/leads/edit/?id={lead}",
        "a record's history": f"/admin/audit/history/?table=customers&id={audited}",
        f"search: rare word ({rare})": "/admin/search/?" + urllib.parse.urlencode({"q": rare}),
        "search: common word (renewal)": "/admin/search/?q=renewal",
        "search: 3-letter prefix (smi)": "/admin/search/?q=smi",
        "search: an email": "/admin/search/?" + urllib.parse.urlencode({"q": email}),
        "pipeline funnel": "/admin/pipeline/",
        "pipeline board": "/admin/pipeline/board",
    }
    # Issue 17: the pipeline "whatever the filters" (dates relative to the demo's load day).
    today = datetime.date.today()
    created = (
        f"created_from={today - datetime.timedelta(days=400)}"
        f"&created_to={today - datetime.timedelta(days=45)}"
    )
    close = f"close_from={today}&close_to={today + datetime.timedelta(days=60)}"
    for page in ("pipeline/", "pipeline/board"):
        name = "funnel" if page == "pipeline/" else "board"
        found |= {
            f"pipeline {name}, EUR only": f"/admin/{page}?currency=EUR",
            f"pipeline {name}, source": f"/admin/{page}?source=Referral",
            f"pipeline {name}, created range": f"/admin/{page}?{created}",
            f"pipeline {name}, close range": f"/admin/{page}?{close}",
            f"pipeline {name}, close range and source": f"/admin/{page}?{close}&source=Referral",
            f"pipeline {name}, both ranges": f"/admin/{page}?{close}&{created}",
        }
    # Part 5: the funnel as it stood on a past day (mid-month: a checkpoint plus ~15 days).
    for label, days in (("a month ago", 31), ("a year ago", 365)):
        day = (today - datetime.timedelta(days=days)).replace(day=1) + datetime.timedelta(days=14)
        funnel = f"/admin/pipeline/?as_of={day}"
        found[f"pipeline funnel, as of {label}"] = funnel
        start = day.replace(day=1) - datetime.timedelta(days=92)
        found[f"pipeline funnel, as of {label}, created range"] = (
            f"{funnel}&created_from={start}&created_to={day}"
        )
        # Partial months at both ends: their days, not whole months.
        start, end = start + datetime.timedelta(days=20), day - datetime.timedelta(days=5)
        found[f"pipeline funnel, as of {label}, created range of part months"] = (
            f"{funnel}&created_from={start}&created_to={end}"
        )
        close = f"close_from={day}&close_to={day + datetime.timedelta(days=60)}"
        found[f"pipeline funnel, as of {label}, close range"] = f"{funnel}&{close}"
        # Both ranges: not in the flows, so today's leads rewound (crm/sales/asof.py).
        found[f"pipeline funnel, as of {label}, both ranges"] = (
            f"{funnel}&{close}&created_from={start}&created_to={end}"
        )
    return found


def sign_in(base: str, person: Role) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"email": person.email, "password": person.password, "csrf_token": token, "next": ""}
    opener.open(f"{base}/login", urllib.parse.urlencode(form).encode())
    if "Sign in" in opener.open(f"{base}/admin/").read().decode():
        raise SystemExit(f"could not sign in as {person.email}")
    return opener


def fetch(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, int, float]:
    """Status, body size and milliseconds of one GET."""
    started = time.perf_counter()
    try:
        response = opener.open(url)
        body = response.read()
        status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, len(body), (time.perf_counter() - started) * 1000


def time_page(opener: urllib.request.OpenerDirector, url: str, runs: int) -> tuple[str, int]:
    """The cell for one page: "median / p95", or why there is none; and the body size."""
    status, size, _ = fetch(opener, url)
    if status == 403:
        return "—", 0
    if status != 200:
        return f"HTTP {status}", size
    for _ in range(WARM_UP - 1):
        fetch(opener, url)
    timings = sorted(fetch(opener, url)[2] for _ in range(runs))
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return f"{statistics.median(timings):.1f} / {p95:.1f}", size


def table(
    scale: float, requests: int, what: str, people: list[Role], cells: dict[str, dict[str, str]]
) -> None:
    """The role × ``what`` table of timings, as markdown."""
    print(
        f"\nScale {scale:g}; one gunicorn worker; median / p95 ms of {requests} requests "
        f"after {WARM_UP} warm-up, per {what} and role; — : the role may not open it.\n"
    )
    print(f"| {what} | " + " | ".join(p.label for p in people) + " |")
    print("|---|" + "---:|" * len(people))
    for label, row in cells.items():
        print(f"| {label} | " + " | ".join(row.get(p.key, "") for p in people) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--only", default="", help="time only pages whose label has this")
    parser.add_argument("--roles", default="", help="comma-separated: admin,manager,…")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    url = database_url(args.scale)
    build(url, args.scale)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        people = roles(conn)
        if args.roles:
            people = [p for p in people if p.key in args.roles.split(",")]
        plan = {p.key: pages(conn, p) for p in people}
    port = free_port()
    server = serve(url, port)
    base = f"http://127.0.0.1:{port}"
    cells: dict[str, dict[str, str]] = {}
    sizes: dict[str, int] = {}
    try:
        for person in people:
            opener = sign_in(base, person)
            for label, path in plan[person.key].items():
                if args.only and args.only not in label:
                    continue
                if path is None:
                    cells.setdefault(label, {})[person.key] = "(none theirs)"
                    continue
                cell, size = time_page(opener, base + path, args.requests)
                cells.setdefault(label, {})[person.key] = cell
                if label == "pipeline board":
                    sizes[person.key] = size
                print(f"  {person.key:9} {label}: {cell}", file=sys.stderr, flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    table(args.scale, args.requests, "page", people, cells)
    if sizes:
        shown = ", ".join(f"{key} {size / 1024:.0f} KiB" for key, size in sizes.items())
        print(f"\nBoard page size: {shown}.")


if __name__ == "__main__":
    main()
