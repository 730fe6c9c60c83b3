"""A sales rep's lists read their rows through indexes, however big or small their book.

The row rules (crm/security/policy.py) stay as they are; what these tests pin down is the
shape of the statements a rep's list pages send: every statement, run through
EXPLAIN on a table big enough for the planner to care, uses an index and never
scans a whole big table. A rep who owns almost nothing used to wait 3 to 8 s
while PostgreSQL walked 3 million interactions in date order to find none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import pytest
from flask import Flask
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import User, UserRole
from crm.search import service as search
from crm.security.passwords import hash_password
from tests import factories
from tests.helpers import PASSWORDS, Browser, statements

BIG_TABLES = ("customers", "leads", "tasks", "interactions")
OWNERS = 50
CUSTOMERS = 25_000


@pytest.fixture(scope="module", autouse=True)
def _vacuumed_after(app: Flask) -> Iterator[None]:
    """After the module: VACUUM the big tables, whose rows every test here rolled back.

    Left dead, 600,000 leads (at 50,000 customers) made the next test's insert of 6,000
    leads take two minutes (the stage-history trigger's insert, amid checkpoints of 540 MB
    of WAL) instead of one second.
    """
    yield
    with app.app_context(), db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"VACUUM ANALYZE users, {', '.join(BIG_TABLES)}"))


@pytest.fixture
def book(db_connection: Connection) -> dict[str, User]:
    """50 reps share 25,000 customers (2% each) with their leads, tasks and interactions;
    one more rep owns a single customer. Analysed, as autovacuum would."""
    small = factories.user(
        email="small@example.com", password_hash=hash_password(PASSWORDS[UserRole.USER])
    )
    big = factories.user(
        email="big@example.com", password_hash=hash_password(PASSWORDS[UserRole.USER])
    )
    db_connection.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers
    db_connection.execute(
        text(
            "INSERT INTO users (email, password_hash, name) "
            "SELECT 'o' || g || '@example.com', 'h', 'Owner ' || g "
            "FROM generate_series(2, :n) g"
        ),
        {"n": OWNERS},
    )
    owners = f"(SELECT array_agg(id ORDER BY id) || {big.id} FROM users WHERE email LIKE 'o%')"
    db_connection.execute(
        text(
            "INSERT INTO customers (id, name, company, owner_id, created_at) "
            f"SELECT g, 'Customer ' || g, 'Company ' || g, o.ids[1 + g % {OWNERS}], "
            "       now()::timestamp - make_interval(mins => g) "
            f"FROM generate_series(1, {CUSTOMERS}) g, (SELECT {owners} AS ids) o"
        )
    )
    db_connection.execute(
        text(
            "INSERT INTO customers (id, name, company, owner_id) "
            f"VALUES ({CUSTOMERS + 1}, 'Only one', 'Small book', {small.id})"
        )
    )
    for table, columns, values in (
        ("leads", "title, customer_id, owner_id, created_at",
         "'Lead ' || g, c.id, c.owner_id, now()::timestamp - make_interval(mins => g)"),
        ("tasks", "title, customer_id, user_id, assigned_to, due_date",
         "'Call ' || g, c.id, c.owner_id, CASE WHEN g % 10 = 0 THEN c.owner_id END, "
         "now()::timestamp - make_interval(mins => g)"),
        ("interactions", "type, subject, customer_id, user_id, interaction_date",
         "'call', 'Call: pricing ' || g, c.id, c.owner_id, "
         "now()::timestamp - make_interval(mins => g)"),
    ):  # fmt: skip
        db_connection.execute(
            text(
                f"INSERT INTO {table} ({columns}) SELECT {values} "
                f"FROM generate_series(1, {3 * CUSTOMERS}) g "
                f"JOIN customers c ON c.id = 1 + g % {CUSTOMERS}"
            )
        )
    db_connection.execute(text("SET LOCAL session_replication_role = DEFAULT"))
    db_connection.execute(text(f"ANALYZE users, {', '.join(BIG_TABLES)}"))
    # 75,000 rows is big enough for the plans' shapes (at 150,000 they were the same, and
    # the setup took twice as long: 25 s a test), small enough that reading a
    # whole table is still cheap; at a million rows it is not. Make the choice visible.
    db_connection.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.expire_all()
    return {"small": small, "big": big}


def plans(conn: Connection, sql: list[tuple[str, object]]) -> list[str]:
    """EXPLAIN of every statement the page ran that reads a big table.

    Statements without a LIMIT are the count's planner estimates: only EXPLAINed
    by the app (crm/admin/counting.py), never run, so left out.
    """
    found = []
    for statement, parameters in sql:
        if "LIMIT" not in statement or not any(
            re.search(rf"\bFROM {table}\b", statement) for table in BIG_TABLES
        ):
            continue
        found.append("\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars()))
    return found


PAGES = [
    "/admin/customers/",
    "/admin/customers/?page=49",
    "/admin/leads/",
    "/admin/leads/?page=49",
    "/admin/tasks/",
    "/admin/tasks/?page=49",
    "/admin/interactions/",
    "/admin/interactions/?page=49",
    "/admin/interactions/?search=pricing",
    "/admin/customers/?flt0_industry_equals=Retail",
]


def test_a_reps_list_pages_never_scan_a_big_table(make_browser, book, db_connection: Connection):
    for who, rep in book.items():
        browser: Browser = make_browser()
        browser.login_as(rep)
        for page in PAGES:
            with statements(db_connection) as sql:
                response = browser.get(page)
            assert response.status_code == 200
            read = plans(db_connection, sql)
            assert read, f"{page} read no big table?"
            for plan in read:
                for table in BIG_TABLES:
                    assert f"Seq Scan on {table}" not in plan, (who, page, plan)
                assert "Index" in plan, (who, page, plan)

    # A small book reads each part of the rule on its own index, not the old plan:
    # the date index walked, every row tested against the whole rule.
    small = make_browser()
    small.login_as(book["small"])
    with statements(db_connection) as sql:
        small.get("/admin/interactions/")
    read = "\n".join(plans(db_connection, sql))
    assert "idx_interactions_user_date" in read or "idx_interactions_user_id" in read
    assert "on idx_customers_owner_" in read or "using idx_customers_owner_" in read
    assert "Index Scan Backward using idx_interactions_interaction_date " not in read

    # A big book walks the date order, probing a hashed set of its customers.
    big = make_browser()
    big.login_as(book["big"])
    with statements(db_connection) as sql:
        big.get("/admin/interactions/")
    read = "\n".join(plans(db_connection, sql))
    assert "Scan Backward using idx_interactions_interaction_date" in read
    assert "hashed SubPlan" in read
    assert "idx_interactions_user_" in read  # their own, on its own index


# Customers too have one (owner, name, company, email), but their search is an OR of
# three columns: on a 1,000-row book the planner filters the book instead (at scale 1
# it reads the three arms, each with the owner, from the index; bench/roles.py).
SEARCHES = {
    "/admin/leads/?search=1234": "idx_leads_owner_trgm",
    "/admin/tasks/?search=1234": "idx_tasks_people_trgm",
    "/admin/interactions/?search=1234": "idx_interactions_user_trgm",
}


def test_a_reps_list_search_reads_their_rows_and_the_words_in_one_index(
    make_browser, book, db_connection: Connection
):
    """Migration 0017: the trigram index holds the rule's column, so "owner_id = me AND
    title ILIKE '%word%'" is one index condition, not two bitmaps (at scale 1, 43,480 of
    a rep's leads and 250,000 with the word) ANDed."""
    drop_rule_indexes(db_connection, but=SEARCHES.values())
    big = make_browser()
    big.login_as(book["big"])
    for page, index in SEARCHES.items():
        with statements(db_connection) as sql:
            assert big.get(page).status_code == 200
        read = "\n".join(plans(db_connection, sql))
        assert re.search(both_in(index), read), (page, read)


def drop_rule_indexes(conn: Connection, but: Iterable[str]) -> None:
    """Drop the indexes that lead with a rule column, ``but`` those, in this test's
    transaction only.

    On a 1,000-row book the planner rightly filters the book through them; without
    them, it must show that the index kept serves the rule and the words together."""
    rule_indexes = conn.scalars(
        text(
            "SELECT c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
            "WHERE t.relname = ANY(:tables) AND c.relname <> ALL(:kept) "
            "AND a.attname IN ('owner_id', 'user_id', 'assigned_to')"
        ),
        {"tables": list(BIG_TABLES), "kept": list(but)},
    ).all()
    assert "idx_leads_owner_created_at" in rule_indexes
    conn.execute(text(f"DROP INDEX {', '.join(rule_indexes)}"))


def both_in(index: str) -> str:
    """A plan line reading ``index`` with a rule column in its condition."""
    return rf"Bitmap Index Scan on {index} .*\n\s+Index Cond: \(\((owner_id|user_id|assigned_to) ="


# Migration 0019: global search's full-text indexes with the rule's columns.
GLOBAL_SEARCH = {
    "customers": "idx_customers_owner_search",
    "leads": "idx_leads_owner_search",
    "tasks": "idx_tasks_people_search",
    "interactions": "idx_interactions_user_search",
}


def test_a_reps_global_search_reads_their_rows_and_the_words_in_one_index(
    make_browser, book, db_connection: Connection
):
    """Each kind's matches are read through the full-text index that carries the rule's
    column: one index condition, not the word's rows (250,000 interactions with
    "renewal" at scale 1) ANDed with the rep's (64,000)."""
    drop_rule_indexes(db_connection, but=GLOBAL_SEARCH.values())
    big = make_browser()
    big.login_as(book["big"])
    with statements(db_connection) as sql:
        page = big.get("/admin/search/?q=customer OR lead OR call")
    assert page.status_code == 200
    read = plans(db_connection, sql)
    for table, index in GLOBAL_SEARCH.items():
        assert any(re.search(both_in(index), plan) for plan in read), table
    for plan in read:
        for table in BIG_TABLES:
            assert f"Seq Scan on {table}" not in plan, plan


def test_a_reps_common_prefix_is_read_through_its_whole_words_in_their_rows(
    make_browser, book, db_connection: Connection
):
    """ "lea" starts "lead", in every one of the 75,000 leads: the rep's pool is read
    as the whole word within their rows (no "lea:*", which gathers every word that
    starts so), in full, not sampled: 101 of their 3,000, so "more than 100"."""
    search.forget_index_words()  # the book was just analysed
    big = make_browser()
    big.login_as(book["big"])
    with statements(db_connection) as sql:
        page = big.get("/admin/search/?q=lea").get_data(as_text=True)
    assert "more than 100" in page
    read = [(s, p) for s, p in sql if s.startswith("SELECT leads.id \nFROM") and "LIMIT" in s]
    assert [p for _s, p in read] == [
        {"param_1": "'lead'", "owner_id_1": book["big"].id, "param_2": 101}
    ]
    shown = [int(i) for i in re.findall(r'href="/admin/leads/details/\?id=(\d+)', page)]
    assert len(shown) == 20
    owners = db_connection.execute(
        text("SELECT DISTINCT owner_id FROM leads WHERE id = ANY(:ids)"), {"ids": shown}
    ).scalars()
    assert list(owners) == [book["big"].id]
