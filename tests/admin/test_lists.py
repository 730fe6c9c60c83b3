"""List pages at scale: honest counts, constant statement counts, index-served queries."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, text

from crm.admin.counting import CAP
from crm.models import UserRole
from tests.helpers import Browser, statements

ADMIN = UserRole.ADMIN


@pytest.fixture
def many_customers(db_connection: Connection, users) -> int:
    """1,500 customers (more than the count cap) with owners, analysed; admin's id."""
    admin = users[ADMIN]
    db_connection.execute(
        text(
            "INSERT INTO customers (name, company, email, industry, owner_id, status, created_at) "
            "SELECT 'Person ' || g || CASE WHEN g % 100 = 0 THEN ' Zebulon' ELSE '' END, "
            "       'Company ' || (g % 300), 'p' || g || '@example.com', "
            "       (ARRAY['Technology','Finance','Retail'])[1 + g % 3], :owner, 'active', "
            "       now() - make_interval(mins => g) "
            "FROM generate_series(1, 1500) g"
        ),
        {"owner": admin.id},
    )
    db_connection.execute(text("ANALYZE customers"))
    return admin.id


def list_count(page: str) -> str:
    return re.search(r"List \(([^)]*)\)", page).group(1)


def test_whole_table_shows_the_planner_estimate(browser: Browser, users, many_customers):
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/customers/").get_data(as_text=True)
    assert list_count(page).startswith("about 1,")


def test_the_estimate_moves_as_rows_are_added(
    browser: Browser, users, many_customers, db_connection: Connection
):
    """No ANALYZE in between: the statistics' live-row count follows the inserts."""
    browser.login_as(users[ADMIN])
    before = int(
        list_count(browser.get("/admin/customers/").get_data(as_text=True))
        .split()[1]
        .replace(",", "")
    )
    db_connection.execute(
        text("INSERT INTO customers (name) SELECT 'Added ' || g FROM generate_series(1, 700) g")
    )
    after = list_count(browser.get("/admin/customers/").get_data(as_text=True))
    assert after.startswith("about ")
    assert int(after.split()[1].replace(",", "")) == before + 700


def test_small_filtered_list_is_counted_exactly(browser: Browser, users, many_customers):
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/customers/?search=Zebulon").get_data(as_text=True)
    assert list_count(page) == "15"


def test_big_filtered_list_is_estimated_not_counted(browser, users, many_customers, db_connection):
    browser.login_as(users[ADMIN])
    with statements(db_connection) as sql:
        page = browser.get("/admin/customers/?flt0_status_equals=active").get_data(as_text=True)
    assert list_count(page).startswith("about ")
    assert int(list_count(page).split()[1].replace(",", "")) > CAP
    counts = [s for s, _ in sql if "count(" in s.lower()]
    assert all("LIMIT" in s for s in counts)  # never an unbounded COUNT(*)


@pytest.mark.parametrize("endpoint", ["customers", "leads", "tasks", "interactions"])
def test_statement_count_does_not_grow_with_page_size(
    browser: Browser, users, db_connection: Connection, endpoint: str
):
    owner = users[ADMIN]
    db_connection.execute(
        text(
            "INSERT INTO customers (id, name, company, owner_id) "
            "SELECT 100000 + g, 'C' || g, 'Co', :owner FROM generate_series(1, 120) g"
        ),
        {"owner": owner.id},
    )
    for statement in (
        "INSERT INTO leads (id, title, customer_id, owner_id) "
        "SELECT 100000 + g, 'L' || g, 100000 + g, :owner FROM generate_series(1, 120) g",
        "INSERT INTO tasks (title, user_id, assigned_to, customer_id, lead_id) "
        "SELECT 'T' || g, :owner, :owner, 100000 + g, 100000 + g FROM generate_series(1, 120) g",
        "INSERT INTO interactions (type, subject, user_id, customer_id, lead_id) "
        "SELECT 'call', 'I' || g, :owner, 100000 + g, 100000 + g FROM generate_series(1, 120) g",
    ):
        db_connection.execute(text(statement), {"owner": owner.id})
    browser.login_as(owner)
    sizes = {}
    for page_size in (20, 100):
        with statements(db_connection) as sql:
            response = browser.get(f"/admin/{endpoint}/?page_size={page_size}")
        assert response.status_code == 200
        sizes[page_size] = len(sql)
    assert sizes[20] == sizes[100]


def explain(conn: Connection, statement: str, parameters: object) -> str:
    return "\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())


def page_query(sql: list[tuple[str, object]], table: str) -> tuple[str, object]:
    """The statement that fetched the page's rows."""
    return next(
        (s, p) for s, p in sql if s.startswith(f"SELECT {table}.id AS {table}_id") and "LIMIT" in s
    )


def test_search_uses_the_trigram_indexes(browser, users, many_customers, db_connection):
    db_connection.execute(text("SET enable_seqscan = off"))  # small table: make the choice visible
    browser.login_as(users[ADMIN])
    with statements(db_connection) as sql:
        browser.get("/admin/customers/?search=zebulon")
    # The count finds the matches; the page then reads them newest first.
    count = next((s, p) for s, p in sql if "MATERIALIZED" in s)
    plan = explain(db_connection, *count)
    # One trigram index (migration 0017) serves each column's arm of the OR.
    for column in ("name", "company", "email"):
        assert re.search(rf"on idx_customers_owner_trgm .*\n.*Index Cond: \(\({column}\)", plan)


def test_default_sort_and_filter_use_btree_indexes(browser, users, many_customers, db_connection):
    browser.login_as(users[ADMIN])
    with statements(db_connection) as sql:
        browser.get("/admin/customers/")
    assert "idx_customers_created_at" in explain(db_connection, *page_query(sql, "customers"))
    db_connection.execute(text("SET enable_seqscan = off"))
    with statements(db_connection) as sql:
        browser.get("/admin/customers/?flt0_industry_equals=Retail")
    plan = explain(db_connection, *page_query(sql, "customers"))
    assert "idx_customers_created_at" in plan or "idx_customers_industry" in plan


@pytest.mark.parametrize("endpoint", ["customers", "leads", "tasks", "interactions", "audit"])
def test_every_sortable_column_leads_a_btree_index(app, endpoint: str, db_connection: Connection):
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint)
    table = view.model.__tablename__
    leading = set(
        db_connection.execute(
            text(
                "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE i.indrelid = CAST(:table AS regclass) AND am.amname = 'btree' "
                "AND i.indpred IS NULL"
            ),
            {"table": table},
        ).scalars()
    )
    sortable = {name for name, _label in view.get_sortable_columns().items()}
    assert sortable <= leading, sortable - leading
    default = view.column_default_sort
    if isinstance(default, list):  # several keys: the first leads an index
        default = default[0]
    assert (default[0] if isinstance(default, tuple) else default) in leading


def test_deep_page_is_a_deferred_join_on_the_covering_index(
    browser, users, many_customers, db_connection
):
    browser.login_as(users[ADMIN])
    # Page 61 of 20 skips 1,200 rows (past DEEP_OFFSET): the newest-first order says
    # which customers are on it (created_at = now - g minutes, so g = 1,201 … 1,220).
    with statements(db_connection) as sql:
        page = browser.get("/admin/customers/?page=60").get_data(as_text=True)
    shown = re.findall(r'<td class="col-name">Person (\d+)', page)
    assert [int(g) for g in shown] == list(range(1201, 1221))
    statement, parameters = page_query(sql, "customers")
    assert "IN (SELECT" in statement and "OFFSET" in statement
    db_connection.execute(text("SET enable_seqscan = off"))
    plan = explain(db_connection, statement, parameters)
    # The ids come through the order column's index; index-only once autovacuum has
    # set the visibility map (a test's rolled-back transaction cannot VACUUM).
    assert "Scan Backward using idx_customers_created_at" in plan, plan


@pytest.mark.parametrize("page", ["-1", "-2", "99999999999999999999999999"])
def test_a_page_number_out_of_range_is_the_nearest_page_not_an_error(browser, users, page):
    browser.login_as(users[ADMIN])
    assert browser.get(f"/admin/customers/?page={page}").status_code == 200
    rep = users[UserRole.USER]
    other = browser.__class__(browser.client.application.test_client())
    other.login_as(rep)
    assert other.get(f"/admin/tasks/?page={page}").status_code == 200  # the merged parts
