"""The pipeline board: cards per stage under the row rules, moves (audited), bad moves."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from crm.extensions import db
from crm.models import Lead, UserRole
from tests import factories
from tests.helpers import Browser, statements

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")


@pytest.fixture
def board(users) -> dict[str, int]:
    stage = {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}
    customer = factories.customer().id
    ids = {f"stage:{name}": i for name, i in stage.items()}
    ids["mine"] = factories.lead(
        title="Rep's deal", stage_id=stage["New"], owner_id=users[REP].id, customer_id=customer,
        currency="USD", amount=100,
    ).id  # fmt: skip
    ids["theirs"] = factories.lead(
        title="Manager's deal", stage_id=stage["New"], owner_id=users[MANAGER].id,
        customer_id=customer, currency="USD", amount=200,
    ).id  # fmt: skip
    return ids


def column(page: str, name: str) -> str:
    return page.split(f'aria-label="{name}"')[1].split("</section>")[0]


def test_cards_sit_in_their_stage_columns_with_totals(browser: Browser, users, board):
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    new = column(page, "New")
    assert "Rep&#39;s deal" in new and "Manager&#39;s deal" in new
    assert "2 leads · 300 USD" in new
    assert "No leads." in column(page, "Closed Lost")


def test_a_sales_rep_sees_only_their_cards(browser: Browser, users, board):
    browser.login_as(users[REP])
    page = browser.get(f"/admin/pipeline/board?owner={users[MANAGER].id}").get_data(as_text=True)
    assert "Rep&#39;s deal" in page and "Manager&#39;s deal" not in page
    assert "1 leads · 100 USD" in column(page, "New")


def test_moving_a_card_changes_the_stage_and_is_audited(
    browser: Browser, users, board, db_connection
):
    browser.login_as(users[MANAGER])
    response = browser.client.post(
        "/admin/pipeline/move",
        data={
            "lead": board["mine"],
            "stage": board["stage:Proposal"],
            "csrf_token": browser.token(),
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200 and response.json["ok"]
    assert db.session.get(Lead, board["mine"]).stage_id == board["stage:Proposal"]
    who, old, new = db_connection.execute(
        text(
            "SELECT user_id, old_values, new_values FROM audit_logs "
            "WHERE table_name = 'leads' AND record_id = :id AND action = 'UPDATE' "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"id": board["mine"]},
    ).one()
    assert who == users[MANAGER].id
    assert (old, new) == ({"stage_id": board["stage:New"]}, {"stage_id": board["stage:Proposal"]})
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    assert "Rep&#39;s deal" in column(page, "Proposal")


def test_the_keyboard_selector_moves_a_card_too(browser: Browser, users, board):
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/pipeline/move", {"lead": board["mine"], "stage": board["stage:Qualified"]}
    )
    assert response.status_code == 302
    assert db.session.get(Lead, board["mine"]).stage_id == board["stage:Qualified"]


def test_after_a_move_the_board_goes_back_to_the_referrers_path_never_its_host(
    browser: Browser, users, board
):
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/pipeline/move",
        {"lead": board["mine"], "stage": board["stage:Qualified"]},
        headers={"Referer": "https://evil.example/admin/pipeline/board?owner=1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/pipeline/board?owner=1"


def test_a_rep_cannot_move_someone_elses_lead(browser: Browser, users, board):
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/pipeline/move", {"lead": board["theirs"], "stage": board["stage:Proposal"]}
    )
    assert response.status_code == 404
    assert db.session.get(Lead, board["theirs"]).stage_id == board["stage:New"]


@pytest.mark.parametrize("stage", ["", "abc", "999999"])
def test_a_bad_stage_is_refused_with_a_message(browser: Browser, users, board, stage: str):
    browser.login_as(users[MANAGER])
    response = browser.client.post(
        "/admin/pipeline/move",
        data={"lead": board["mine"], "stage": stage, "csrf_token": browser.token()},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400 and "Pick one of the board" in response.json["message"]
    assert db.session.get(Lead, board["mine"]).stage_id == board["stage:New"]


def test_a_move_needs_a_csrf_token(browser: Browser, users, board):
    browser.login_as(users[MANAGER])
    response = browser.post(
        "/admin/pipeline/move",
        {"lead": board["mine"], "stage": board["stage:Proposal"]},
        csrf=False,
    )
    assert response.status_code == 400
    assert db.session.get(Lead, board["mine"]).stage_id == board["stage:New"]


def test_columns_show_the_newest_twenty_then_more_on_request(
    browser: Browser, users, board, db_connection
):
    db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id, currency, created_at) "
            "SELECT 'Bulk ' || g, :stage, 'USD', now() - make_interval(mins => g) "
            "FROM generate_series(1, 45) g"
        ),
        {"stage": board["stage:Contacted"]},
    )
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board?currency=USD").get_data(as_text=True)
    contacted = column(page, "Contacted")
    assert re.findall(r'">(Bulk \d+)</a>', contacted) == [f"Bulk {g}" for g in range(1, 21)]
    assert "All 45 in the lead list</a>" in contacted and "stage_equals=" in contacted
    more = re.search(r'class="btn btn-link btn-sm board-more" data-url="([^"]+)"', contacted)
    assert more is not None
    url = more.group(1).replace("&amp;", "&")
    assert "currency=USD" in url  # the board's filters carry over

    second = browser.get(url)
    assert second.status_code == 200
    titles = re.findall(r'">(Bulk \d+)</a>', second.get_data(as_text=True))
    assert titles == [f"Bulk {g}" for g in range(21, 41)]
    url = re.search(r'data-url="([^"]+)"', second.get_data(as_text=True)).group(1)
    third = browser.get(url.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'">(Bulk \d+)</a>', third) == [f"Bulk {g}" for g in range(41, 46)]
    assert "board-more" not in third  # the end of the column


def test_more_cards_follow_the_row_rule(browser: Browser, users, board, db_connection):
    db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id, currency, owner_id, created_at) "
            "SELECT 'Bulk ' || g, :stage, 'USD', CASE WHEN g % 2 = 0 THEN :rep END, "
            "       now() - make_interval(mins => g) "
            "FROM generate_series(1, 60) g"
        ),
        {"stage": board["stage:Contacted"], "rep": users[REP].id},
    )
    browser.login_as(users[REP])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    url = re.search(r'data-url="([^"]+)"', column(page, "Contacted")).group(1)
    more = browser.get(url.replace("&amp;", "&")).get_data(as_text=True)
    numbers = [int(n) for n in re.findall(r'">Bulk (\d+)</a>', more)]
    assert numbers == list(range(42, 61, 2))  # theirs only, after the first twenty


@pytest.mark.parametrize(
    "args", ["stage=abc&after=x", "stage=1&after=nonsense", "after=2026-01-01T00:00:00_1"]
)
def test_more_cards_with_a_bad_address_is_a_400(browser: Browser, users, board, args: str):
    browser.login_as(users[MANAGER])
    assert browser.get(f"/admin/pipeline/board/cards?{args}").status_code == 400


def test_a_cards_own_move_button_moves_it(browser: Browser, users, board):
    """Each column is one form: the Move button names the lead, its selector the stage."""
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    assert f'name="stage_{board["mine"]}"' in column(page, "New")
    response = browser.post(
        "/admin/pipeline/move",
        {"lead": board["mine"], f"stage_{board['mine']}": board["stage:Proposal"]},
    )
    assert response.status_code == 302
    assert db.session.get(Lead, board["mine"]).stage_id == board["stage:Proposal"]


def test_support_has_no_board(browser: Browser, users):
    browser.login_as(users[SUPPORT])
    assert browser.get("/admin/pipeline/board").status_code == 403


def test_only_the_filters_travel_to_the_show_more_address(
    browser: Browser, users, board, db_connection
):
    db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id, currency) "
            "SELECT 'Bulk ' || g, :stage, 'USD' FROM generate_series(1, 25) g"
        ),
        {"stage": board["stage:Contacted"]},
    )
    browser.login_as(users[MANAGER])
    for page in ("/admin/pipeline/board", "/admin/pipeline/"):
        response = browser.get(f"{page}?source=Referral&endpoint=x&_anchor=y&_scheme=z&cls=1")
        assert response.status_code == 200
    response = browser.get("/admin/pipeline/board?endpoint=x&_anchor=y&_scheme=z")
    url = re.search(r'data-url="([^"]+)"', column(response.get_data(as_text=True), "Contacted"))
    assert url is not None
    assert "endpoint" not in url.group(1) and "_anchor" not in url.group(1)


def test_the_board_reads_every_columns_cards_in_one_statement_and_keeps_each_in_order(
    browser: Browser, users, board, db_connection
):
    """Seven columns' cards in one UNION ALL, the stale counts in one more (not one each)."""
    db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id, currency, created_at) "
            "SELECT 'Spread ' || g, CASE WHEN g % 2 = 0 THEN :a ELSE :b END, 'USD', "
            "now() - make_interval(hours => g) FROM generate_series(1, 50) g"
        ),
        {"a": board["stage:Contacted"], "b": board["stage:Proposal"]},
    )
    db_connection.execute(
        text("UPDATE lead_stages SET rotting_days = 1 WHERE name NOT LIKE 'Closed%'")
    )
    browser.login_as(users[MANAGER])
    with statements(db_connection) as sql:
        page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    cards = [s for s, _ in sql if "UNION ALL" in s and "customers.name" in s]
    assert len(cards) == 1 and cards[0].count("LIMIT") == len(STAGES)
    assert len([s for s, _ in sql if "FROM leads" in s and "customers.name" in s]) == 1
    stale = [s for s, _ in sql if "count(*)" in s and "stage_entered_at" in s]
    assert len(stale) == 1 and stale[0].count("LIMIT") == 5  # the five open stages
    # Each count in its own column (hours 24 to 50 ago: even ones Contacted, odd Proposal).
    counts = re.findall(r"board-stale-count[^>]*>(\d+) stale", page)
    assert counts == ["0", "14", "0", "13", "0"]
    even = [f"Spread {g}" for g in range(2, 41, 2)]
    odd = [f"Spread {g}" for g in range(1, 40, 2)]
    assert re.findall(r'">(Spread \d+)</a>', column(page, "Contacted")) == even
    assert re.findall(r'">(Spread \d+)</a>', column(page, "Proposal")) == odd
