"""Realistic, deterministic demo data at any scale, generated inside PostgreSQL.

Scale 1 is 50 users, 1,000,000 customers, 2,000,000 leads, 1,000,000 tasks,
3,000,000 interactions and 5,000,000 audit rows. Faker (seeded) makes small pools
of names, companies, cities and phrases; the rows themselves come from
``INSERT ... SELECT generate_series`` in batches, so Python never touches them.

Every value is a pure function of the row number: a multiplicative permutation
spreads row numbers over the pools (so the same scale always gives the same
data, and (name, company) pairs are unique), and a row's customer, lead and owner
are computed the same way everywhere, so a lead's owner is its customer's owner
and a task about a lead names that lead's customer.

Loading: the five big tables' secondary indexes and foreign keys are dropped
first and put back at the end (one sorted index build, and one join to validate
each key, are far faster than millions of per-row index inserts and key checks),
all in one transaction, so an interrupted load leaves nothing behind. The audit
triggers (migration 0010) are switched off for that transaction only (ALTER
TABLE … DISABLE TRIGGER: transactional, and only the tables' owner may do it),
so the millions of INSERTs write no audit rows of their own; the audit rows are
synthetic history written directly.

Each lead has a believable way to its stage (crm/maintenance/demo_rows.py's
LEAD_PATH), in its stage history and its path columns alike (issue 17).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from faker import Faker
from sqlalchemy import Connection, text

from crm.maintenance.demo_rows import INSERTS
from crm.maintenance.rates import demo_rates

SEED = 20261125
DEMO_EMAIL_DOMAIN = "demo.crm.example"
# The seed's sales-rep login (crm/maintenance/seed.py), given a book of its own.
SEED_REP = "user@crm.com"
# Knuth's multiplicative constant: prime, so coprime with every pool product used.
SPREAD = 2654435761
BATCH = 100_000
BIG_TABLES = ("customers", "leads", "tasks", "interactions", "audit_logs")


# Every demo user's password (README lists it); demo data is refused in production.
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class Volumes:
    """Row counts for one scale."""

    users: int
    customers: int
    leads: int
    tasks: int
    interactions: int
    audit_logs: int

    @classmethod
    def for_scale(cls, scale: float) -> Volumes:
        """Scale 1 is the issue's million-row set; every table at least a few rows."""
        return cls(
            users=max(10, round(50 * min(scale, 1.0)) if scale < 1 else round(50 * scale)),
            customers=max(20, round(1_000_000 * scale)),
            leads=max(40, round(2_000_000 * scale)),
            tasks=max(20, round(1_000_000 * scale)),
            interactions=max(60, round(3_000_000 * scale)),
            audit_logs=max(100, round(5_000_000 * scale)),
        )

    def rows(self) -> int:
        """Rows to insert."""
        return self.customers + self.leads + self.tasks + self.interactions + self.audit_logs

    def index_units(self) -> int:
        """Progress units for the index rebuild (about a third of the load's time)."""
        return self.rows() // 2

    def total_units(self) -> int:
        """Progress units for the whole load."""
        return self.rows() + self.index_units()


class DemoDataError(RuntimeError):
    """The load cannot start; the message says why and what to do."""


def _pools(faker: Faker) -> dict[str, list[tuple[Any, ...]]]:
    """Small deduplicated vocabularies; rows combine them by arithmetic."""

    def unique(make: Callable[[], str], count: int) -> list[str]:
        seen: dict[str, None] = {}
        while len(seen) < count:
            seen.setdefault(make().replace("\t", " "), None)
        return list(seen)

    firsts = unique(faker.first_name, 600)
    lasts = unique(faker.last_name, 700)
    companies = unique(faker.company, 4000)
    places = [(faker.city(), faker.state(), faker.postcode()) for _ in range(400)]
    phrases = unique(faker.catch_phrase, 300)
    sentences = unique(lambda: faker.sentence(nb_words=9), 400)
    return {
        "first": [(i, v) for i, v in enumerate(firsts)],
        "last": [(i, v) for i, v in enumerate(lasts)],
        "company": [(i, v, _domain(v)) for i, v in enumerate(companies)],
        "place": [(i, *place) for i, place in enumerate(places)],
        "phrase": [(i, v) for i, v in enumerate(phrases)],
        "sentence": [(i, v) for i, v in enumerate(sentences)],
    }


def _domain(company: str) -> str:
    letters = "".join(ch for ch in company.lower() if ch.isalnum())
    return f"{letters[:40] or 'example'}.com"


POOL_TABLES = {
    "first": "(i int PRIMARY KEY, v text)",
    "last": "(i int PRIMARY KEY, v text)",
    "company": "(i int PRIMARY KEY, v text, domain text)",
    "place": "(i int PRIMARY KEY, city text, state text, postcode text)",
    "phrase": "(i int PRIMARY KEY, v text)",
    "sentence": "(i int PRIMARY KEY, v text)",
    "owner": "(i int PRIMARY KEY, user_id int)",
}


def _load_pools(
    conn: Connection, pools: dict[str, list[tuple[Any, ...]]], owners: list[int]
) -> None:
    pools = {**pools, "owner": list(enumerate(owners))}
    raw = conn.connection.driver_connection
    assert raw is not None  # the connection is live: its psycopg connection is there
    with raw.cursor() as cursor:
        for name, columns in POOL_TABLES.items():
            cursor.execute(f"DROP TABLE IF EXISTS demo_{name}")
            cursor.execute(f"CREATE TEMP TABLE demo_{name} {columns}")
            with cursor.copy(f"COPY demo_{name} FROM STDIN") as copy:
                for row in pools[name]:
                    copy.write_row(row)
        cursor.execute("ANALYZE " + ", ".join(f"demo_{name}" for name in POOL_TABLES))


def _sql_constants(
    volumes: Volumes, pools: dict[str, list[tuple[Any, ...]]], n_owners: int
) -> dict[str, int]:
    return {
        "nf": len(pools["first"]),
        "nl": len(pools["last"]),
        "nc": len(pools["company"]),
        "np": len(pools["place"]),
        "nph": len(pools["phrase"]),
        "ns": len(pools["sentence"]),
        "no": n_owners,
        "ncust": volumes.customers,
        "nleads": volumes.leads,
        "spread": SPREAD,
    }


ROLES = ["user"] * 40 + ["manager"] * 6 + ["support"] * 3 + ["admin"]


def load(
    conn: Connection,
    scale: float,
    password_hash: str,
    progress: Callable[[str, int], None] = lambda _step, _units: None,
    base: str = "USD",
) -> Volumes:
    """Load demo data for ``scale`` inside the caller's transaction; the volumes loaded.

    Needs the seed's lead stages. Refuses to run twice (the demo users exist).
    ``progress(step, units)`` reports work done: one unit per row inserted, and
    ``Volumes.index_units()`` in all for rebuilding the indexes. ``base``: the
    base currency, which the demo's monthly exchange rates are to.
    """
    if scale <= 0 or not math.isfinite(scale):
        raise DemoDataError("--scale must be a number above 0, e.g. 0.01 or 1")
    stages = conn.execute(text("SELECT count(*) FROM lead_stages")).scalar_one()
    if stages < 7:
        raise DemoDataError("the lead stages are missing: run `flask crm seed` first")
    if is_loaded(conn):
        raise DemoDataError(
            "demo data is already loaded; run `flask crm demo-data --replace` to load it afresh"
        )

    volumes = Volumes.for_scale(scale)
    _switch_triggers(conn, "DISABLE", LOAD_TRIGGERS)
    faker = Faker("en_US")
    faker.seed_instance(SEED)
    pools = _pools(faker)
    owners = _insert_users(conn, volumes.users, pools, password_hash)
    # The README's sales-rep login gets a book like any demo rep's, so signing in as
    # user@crm.com shows a working day, not an empty app.
    seed_rep = conn.scalar(
        text("SELECT id FROM users WHERE email = :email AND role = 'user'"), {"email": SEED_REP}
    )
    if seed_rep is not None:
        owners.append(seed_rep)
    _load_pools(conn, pools, owners)
    constants = _sql_constants(volumes, pools, len(owners))
    conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 2"))
    conn.execute(text("SET LOCAL synchronous_commit = off"))

    indexes = _drop_secondary_indexes(conn, (*BIG_TABLES, "lead_stage_history"))
    foreign_keys = _drop_foreign_keys(conn, (*BIG_TABLES, "lead_stage_history"))
    bases = {table: _max_id(conn, table) for table in BIG_TABLES}
    constants.update(
        customer_base=bases["customers"],
        lead_base=bases["leads"],
        task_base=bases["tasks"],
        interaction_base=bases["interactions"],
        ntasks=volumes.tasks,
        ninteractions=volumes.interactions,
    )
    params_extra = {"stage_ids": _stage_ids(conn)}
    for table in BIG_TABLES:
        count = getattr(volumes, table)
        for lo, hi in _batches(count):
            params = {**constants, **params_extra, "base": bases[table], "lo": lo, "hi": hi}
            conn.execute(text(INSERTS[table]), params)
            if table == "leads":  # and the way each of them came to its stage
                conn.execute(text(INSERTS["lead_stage_history"]), params)
            progress(table, hi - lo + 1)
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :last)"),
            {"last": bases[table] + count},
        )
    rebuild = indexes + foreign_keys
    share, extra = divmod(volumes.index_units(), max(len(rebuild), 1))
    for number, statement in enumerate(rebuild):
        conn.execute(text(statement))
        progress("indexes", share + (extra if number == 0 else 0))
    conn.execute(text("ANALYZE users, lead_stage_history, " + ", ".join(BIG_TABLES)))
    conn.execute(text("DROP TABLE " + ", ".join(f"demo_{name}" for name in POOL_TABLES)))
    conn.execute(text("SELECT crm_rebuild_pipeline_stats(), crm_rebuild_stage_stays()"))
    _switch_triggers(conn, "ENABLE", LOAD_TRIGGERS)
    demo_rates(conn, base, date.today())  # after ENABLE: audited like an admin's
    return volumes


def _switch_triggers(conn: Connection, state: str, triggers: Mapping[str, tuple[str, ...]]) -> None:
    """ENABLE or DISABLE the named triggers (inside the caller's transaction)."""
    for table, names in triggers.items():
        for name in names:
            conn.execute(text(f"ALTER TABLE {table} {state} TRIGGER {name}"))


# The audit triggers the load's INSERTs would fire, and the pipeline aggregates'
# (rebuilt once at the end instead).
LOAD_TRIGGERS: dict[str, tuple[str, ...]] = {
    table: (f"trg_{table}_audit",) for table in ("users", *BIG_TABLES[:-1])
}
# Demo leads bring their own closed_at, path (0024) and stage history (0022), so those
# triggers may rest too.
LOAD_TRIGGERS["leads"] += (
    "trg_leads_pipeline_insert",
    "trg_leads_closed_at",
    "trg_leads_path",
    "trg_leads_stage_history_insert",
)
LOAD_TRIGGERS["tasks"] += ("trg_tasks_notify_assignee",)  # demo tasks are no news (0034)
# TRUNCATE is refused on audited tables and on audit_logs; the demo users' DELETE is audited.
REMOVE_TRIGGERS: Mapping[str, tuple[str, ...]] = {
    table: (f"trg_{table}_no_truncate",) for table in BIG_TABLES
} | {"users": ("trg_users_audit",)}


def _insert_users(
    conn: Connection, count: int, pools: dict[str, list[tuple[Any, ...]]], password_hash: str
) -> list[int]:
    """The demo's people; returns the ids of those who own customers (reps, managers)."""
    firsts, lasts = pools["first"], pools["last"]
    owners = []
    for n in range(count):
        first, last = firsts[(n * 7) % len(firsts)][1], lasts[(n * 11) % len(lasts)][1]
        role = ROLES[n % len(ROLES)]
        local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalpha() or ch == ".")
        user_id = conn.execute(
            text(
                "INSERT INTO users (email, password_hash, name, role) "
                "VALUES (:email, :hash, :name, CAST(:role AS user_role)) RETURNING id"
            ),
            {
                "email": f"{local}{n}@{DEMO_EMAIL_DOMAIN}",
                "hash": password_hash,
                "name": f"{first} {last}",
                "role": role,
            },
        ).scalar_one()
        if role in ("user", "manager"):
            owners.append(user_id)
    return owners


def _drop_secondary_indexes(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Drop every index not behind a constraint; the statements that rebuild them."""
    rows = conn.execute(
        text(
            """
            SELECT i.indexname, i.indexdef
            FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(:tables)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            ORDER BY i.tablename, i.indexname
            """
        ),
        {"tables": list(tables)},
    ).all()
    for name, _definition in rows:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return [definition for _name, definition in rows]


def _drop_foreign_keys(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Drop the big tables' foreign keys; the statements that add them back.

    Checking a key per inserted row costs more than the insert itself; adding
    the constraint afterwards validates every row in one join.
    """
    rows = conn.execute(
        text(
            """
            SELECT c.conname, r.relname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
            WHERE c.contype = 'f' AND r.relname = ANY(:tables)
            ORDER BY r.relname, c.conname
            """
        ),
        {"tables": list(tables)},
    ).all()
    for name, table, _definition in rows:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    return [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for name, table, definition in rows
    ]


def _stage_ids(conn: Connection) -> list[int]:
    """The stages' ids by order_index 1 to 7 (the first of each order, as the seed made)."""
    return list(
        conn.execute(
            text(
                "SELECT DISTINCT ON (order_index) id FROM lead_stages "
                "WHERE order_index BETWEEN 1 AND 7 ORDER BY order_index, id"
            )
        ).scalars()
    )


def _max_id(conn: Connection, table: str) -> int:
    max_id: int = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return max_id


def _batches(count: int) -> Iterable[tuple[int, int]]:
    for lo in range(1, count + 1, BATCH):
        yield lo, min(lo + BATCH - 1, count)


def is_loaded(conn: Connection) -> bool:
    """Whether the demo users exist (the load's first step)."""
    return bool(
        conn.execute(
            text("SELECT 1 FROM users WHERE email LIKE :pattern LIMIT 1"),
            {"pattern": f"%@{DEMO_EMAIL_DOMAIN}"},
        ).first()
    )


def remove(conn: Connection) -> None:
    """Delete all business rows and the demo users (the seed's users and stages stay).

    TRUNCATE is used for speed; the seed's sample customers go too, so callers
    run the seed again afterwards.
    """
    _switch_triggers(conn, "DISABLE", REMOVE_TRIGGERS)
    tables = "customers, leads, lead_stage_history, tasks, interactions, audit_logs, notifications"
    conn.execute(text(f"TRUNCATE {tables}"))
    # TRUNCATE fires no DELETE trigger: the pipeline aggregates are rebuilt (empty).
    conn.execute(text("SELECT crm_rebuild_pipeline_stats()"))
    conn.execute(
        text("DELETE FROM users WHERE email LIKE :pattern"),
        {"pattern": f"%@{DEMO_EMAIL_DOMAIN}"},
    )
    _switch_triggers(conn, "ENABLE", REMOVE_TRIGGERS)
