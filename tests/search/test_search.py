"""Global full-text search: the query language, ranking, row rules, bad input, indexes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, text

from crm.models import InteractionType, UserRole
from crm.search import service as search
from tests import factories
from tests.helpers import Browser, statements

ADMIN, REP, SUPPORT = UserRole.ADMIN, UserRole.USER, UserRole.SUPPORT


@pytest.fixture
def records(users) -> dict[str, int]:
    """A small world whose right answers are known; the rep owns the Zyxel records."""
    rep = users[REP]
    ids = {
        "acme": factories.customer(
            name="Wile Coyote", company="Acme Rockets", email="wile@acme-rockets.example",
            phone="+1 (555) 010-0199",
        ).id,
        "zyxel": factories.customer(name="Zed Zyxel", company="Zyxel Traders", owner_id=rep.id).id,
    }  # fmt: skip
    ids["widgets"] = factories.lead(
        title="Acme widgets renewal", description="Widgets for the spring catalogue",
        customer_id=ids["acme"],
    ).id  # fmt: skip
    ids["anvils"] = factories.lead(
        title="Acme anvils", description="Net thirty payment terms agreed",
        customer_id=ids["acme"],
    ).id  # fmt: skip
    ids["zyxel_lead"] = factories.lead(
        title="Zyxel routers", customer_id=ids["zyxel"], owner_id=rep.id
    ).id
    ids["task"] = factories.task(title="Call about widgets", description="thirty net days").id
    ids["call"] = factories.interaction(
        type=InteractionType.CALL, subject="Widgets pricing call", customer_id=ids["acme"],
        user_id=users[ADMIN].id,
    ).id  # fmt: skip
    return ids


def search_page(browser: Browser, q: str) -> str:
    response = browser.get("/admin/search/", query_string={"q": q})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def found(page: str, kind: str) -> list[int]:
    """The ids linked in one kind's group, in the order shown."""
    section = page.split(f'id="results-{kind}"')[1].split("</section>")[0]
    return [int(i) for i in re.findall(rf'href="/admin/{kind}/details/\?id=(\d+)"', section)]


def counts(page: str) -> dict[str, str]:
    pills = re.findall(r'href="#results-(\w+)">\w+\s*<span class="badge [\w-]+">([^<]+)', page)
    return dict(pills)


@pytest.fixture
def admin(browser: Browser, users) -> Browser:
    browser.login_as(users[ADMIN])
    return browser


def test_plain_words_must_all_match(admin: Browser, records):
    page = search_page(admin, "acme widgets")
    assert found(page, "leads") == [records["widgets"]]
    assert found(page, "customers") == []  # the customer has "acme" but not "widgets"


def test_a_quoted_phrase_matches_words_in_that_order(admin: Browser, records):
    assert found(search_page(admin, '"net thirty"'), "leads") == [records["anvils"]]
    assert found(search_page(admin, '"net thirty"'), "tasks") == []  # "thirty net"
    assert found(search_page(admin, "net thirty"), "tasks") == [records["task"]]


def test_a_minus_word_leaves_records_out(admin: Browser, records):
    assert found(search_page(admin, "acme -renewal"), "leads") == [records["anvils"]]


def test_or_finds_either(admin: Browser, records):
    page = search_page(admin, "anvils OR routers")
    assert sorted(found(page, "leads")) == sorted([records["anvils"], records["zyxel_lead"]])


def test_the_last_word_matches_as_a_prefix(admin: Browser, records):
    assert found(search_page(admin, "acm"), "customers") == [records["acme"]]
    assert found(search_page(admin, "wid"), "interactions") == [records["call"]]


def test_an_email_or_a_phone_number_finds_its_customer(admin: Browser, records):
    assert found(search_page(admin, "wile@acme-rockets.example"), "customers") == [records["acme"]]
    assert found(search_page(admin, "555 010 0199"), "customers") == [records["acme"]]
    assert found(search_page(admin, "+15550100199"), "customers") == [records["acme"]]


def test_results_are_ranked_within_their_group(admin: Browser, records):
    strong = factories.lead(title="Gizmo gizmo", description="gizmo gizmo gizmo").id
    weak = factories.lead(title="Gizmo", description="one mention only, among other words").id
    assert found(search_page(admin, "gizmo"), "leads") == [strong, weak]


def test_snippets_highlight_the_match_and_escape_the_text(admin: Browser, records):
    factories.lead(title="<b>Bold</b> gadget deal", description="<script>x()</script> gadget")
    page = search_page(admin, "gadget")
    assert "<mark>gadget</mark>" in page
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page
    assert "<script>x()" not in page


def test_groups_show_a_count_per_kind(admin: Browser, records):
    assert counts(search_page(admin, "widgets")) == {
        "customers": "0",
        "leads": "1",
        "tasks": "1",
        "interactions": "1",
    }


def test_a_common_word_is_capped_and_links_to_the_filtered_list(
    admin: Browser, records, db_connection: Connection
):
    db_connection.execute(
        text(
            "INSERT INTO customers (name, company) "
            "SELECT 'Common Person ' || g, 'Ubiquitous Ltd' FROM generate_series(1, 1005) g"
        )
    )
    page = search_page(admin, "ubiquitous")
    assert counts(page)["customers"] == "more than 1,000"
    assert len(found(page, "customers")) == 20
    link = re.search(r'href="(/admin/customers/\?flt0_text_matches=[^"]+)"', page).group(1)
    assert link == "/admin/customers/?flt0_text_matches=ubiquitous"
    listed = admin.get(link).get_data(as_text=True)
    assert "Ubiquitous Ltd" in listed and "Acme Rockets" not in listed


def test_a_sales_rep_finds_only_rows_they_may_read(browser: Browser, users, records):
    browser.login_as(users[REP])
    page = search_page(browser, "zyxel OR acme")
    assert found(page, "customers") == [records["zyxel"]]
    assert found(page, "leads") == [records["zyxel_lead"]]
    assert counts(page)["customers"] == "1" and counts(page)["leads"] == "1"


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Type something to search for."),
        ("   ", "Type something to search for."),
        ("the and of", "only very common words"),
        ("-", "nothing to search for"),
        ("*", "nothing to search for"),
        ("-acme", "only left words out"),
        ('"acme', "A quote was not closed"),
        ("acme " * 400, "Only the first 200 characters"),
        ("<script>alert(1)</script>", "only very common words"),
        ("'; DROP TABLE customers; --", "has no letters or digits"),
        ("%_\\ acme", "has no letters or digits"),
    ],
)
def test_bad_input_gets_a_helpful_page(admin: Browser, records, q: str, message: str):
    page = search_page(admin, q)
    assert message in page
    assert "<script>alert(1)" not in page


def test_the_navbar_has_the_search_box_on_every_page(admin: Browser):
    for path in ("/admin/", "/admin/customers/", "/admin/audit/"):
        page = admin.get(path).get_data(as_text=True)
        assert 'action="/admin/search/"' in page and 'name="q"' in page


# Each kind's full-text index, and migration 0019's copy led by the reps' rule column:
# a multicolumn GIN index serves a condition on the document alone just as well, and
# on tiny tables the planner may pick either.
@pytest.mark.parametrize(
    ("table", "indexes"),
    [
        ("customers", ("idx_customers_search", "idx_customers_owner_search")),
        ("leads", ("idx_leads_search", "idx_leads_owner_search")),
        ("tasks", ("idx_tasks_search", "idx_tasks_people_search")),
        ("interactions", ("idx_interactions_search", "idx_interactions_user_search")),
    ],
)
def test_each_kind_is_served_by_its_gin_index(
    admin: Browser, records, db_connection: Connection, table: str, indexes: tuple[str, str]
):
    db_connection.execute(text("SET enable_seqscan = off"))  # tiny tables: make the choice visible
    with statements(db_connection) as sql:
        search_page(admin, "widgets")
    statement, parameters = next(  # the matches, before ranking (not the planner's estimate)
        (s, p) for s, p in sql if "LIMIT" in s and f"FROM {table} " in s and "ts_rank" not in s
    )
    plan = "\n".join(db_connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())
    assert re.search(rf"Bitmap Index Scan on ({'|'.join(indexes)}) ", plan), plan


def test_a_phone_search_uses_the_digits_index(admin: Browser, records, db_connection):
    db_connection.execute(text("SET enable_seqscan = off"))
    with statements(db_connection) as sql:
        search_page(admin, "555 010 0199")
    statement, parameters = next((s, p) for s, p in sql if "FROM customers " in s)
    plan = "\n".join(db_connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())
    assert "idx_customers_phone_digits" in plan, plan


def ubiquitous(conn: Connection, rep: int) -> None:
    """12,000 customers of "Ubiquitous Ltd", every 4,000th the rep's; analysed."""
    conn.execute(text("SET LOCAL session_replication_role = replica"))  # no audit
    conn.execute(
        text(
            "INSERT INTO customers (name, company, owner_id) "
            "SELECT 'Common Person ' || g, 'Ubiquitous Ltd', CASE WHEN g % 4000 = 0 THEN :rep END "
            "FROM generate_series(1, 12000) g"
        ),
        {"rep": rep},
    )
    conn.execute(text("SET LOCAL session_replication_role = DEFAULT"))
    conn.execute(text("ANALYZE customers"))


def test_a_word_too_common_to_count_still_finds_every_one_of_a_reps_rows(
    browser: Browser, make_browser, users, db_connection: Connection
):
    """Past 10,000 likely matches an admin's count is "more than 1,000" without
    counting; a rep's few rows among them are all found and counted exactly."""
    rep = users[REP]
    ubiquitous(db_connection, rep.id)
    browser.login_as(users[ADMIN])
    page = search_page(browser, "ubiquitous")
    assert counts(page)["customers"] == "more than 1,000"
    assert len(found(page, "customers")) == 20

    theirs = make_browser()
    theirs.login_as(rep)
    page = search_page(theirs, "ubiquitous")
    assert counts(page)["customers"] == "3"
    assert len(found(page, "customers")) == 3  # all of theirs: 4000, 8000 and 12000


def test_a_common_prefix_is_sampled_through_its_common_words(
    browser: Browser, make_browser, users, db_connection: Connection
):
    """A prefix typed by someone who reads every row ("ubiq") is looked up as its
    commonest whole words from the index's statistics (migration 0018), which GIN can
    sample; a rep's search keeps the prefix itself and finds each of their rows."""
    rep = users[REP]
    factories.customer(name="Ubiquity Rare", owner_id=rep.id)
    ubiquitous(db_connection, rep.id)
    search.forget_index_words()  # the statistics just changed (ANALYZE)
    browser.login_as(users[ADMIN])
    with statements(db_connection) as sql:
        page = search_page(browser, "ubiq")
    assert counts(page)["customers"] == "more than 1,000"
    assert len(found(page, "customers")) == 20
    read = [p for s, p in sql if s.startswith("SELECT customers.id \nFROM") and "LIMIT" in s]
    assert read == [{"param_1": "'ubiquit'", "param_2": 101}]  # the whole word, no "ubiq:*"

    theirs = make_browser()
    theirs.login_as(rep)
    page = search_page(theirs, "ubiq")
    assert counts(page)["customers"] == "4"  # 4000, 8000, 12000 and the rare "Ubiquity"
