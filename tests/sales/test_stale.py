"""Stale deals (issue 17, part 4): a lead longer in its stage than the stage's
rotting_days is flagged on the board and counted per column, under the row rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import LeadStage, UserRole
from crm.sales import board
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")


@pytest.fixture
def stages() -> dict[str, int]:
    limits = {"Proposal": 10, "Closed Won": 5}  # a closed stage's limit is ignored
    return {
        name: factories.stage(name=name, order_index=n, rotting_days=limits.get(name)).id
        for n, name in enumerate(STAGES, 1)
    }


@pytest.fixture
def world(stages, users, db_connection: Connection) -> dict[str, int]:
    now = datetime.now(UTC).replace(tzinfo=None)
    customer = factories.customer().id

    def lead(title: str, stage: str, days_old: int, owner: UserRole = MANAGER) -> int:
        return factories.lead(
            title=title, stage_id=stages[stage], customer_id=customer, owner_id=users[owner].id,
            currency="USD", amount=100, created_at=now - timedelta(days=days_old),
        ).id  # fmt: skip

    ids = {
        "old": lead("Old proposal", "Proposal", 20),  # never moved: in Proposal 20 days
        "fresh": lead("Fresh proposal", "Proposal", 3),
        "moved": lead("Moved proposal", "New", 30),  # created long ago, in Proposal from now
        "rep_old": lead("Rep's old proposal", "Proposal", 15, REP),
        "won_long_ago": lead("Won deal", "Closed Won", 40),
    }
    db_connection.execute(
        text("UPDATE leads SET stage_id = :s WHERE id = :id"),
        {"s": stages["Proposal"], "id": ids["moved"]},
    )
    return ids


def column(page: str, name: str) -> str:
    return page.split(f'aria-label="{name}"')[1].split("</section>")[0]


def card(page: str, title: str) -> str:
    return page.split(title)[0].rsplit("<li", 1)[1] + page.split(title)[1].split("</li>")[0]


def test_the_board_flags_stale_deals_and_counts_them(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    proposal = column(page, "Proposal")
    assert "2 stale (over 10 days here)" in proposal  # old and the rep's
    assert "Stale: 20 days in stage" in card(proposal, "Old proposal")
    assert "board-stale" not in card(proposal, "Fresh proposal")
    assert "board-stale" not in card(proposal, "Moved proposal")  # entered today
    assert "stale (over" not in column(page, "Closed Won")  # closed deals do not rot
    assert "stale (over" not in column(page, "New")  # no limit on New here


def test_a_rep_counts_only_their_own_stale_deals(browser: Browser, users, world):
    browser.login_as(users[REP])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    assert "1 stale (over 10 days here)" in column(page, "Proposal")
    assert "Old proposal" not in page


def test_beyond_the_cap_the_count_says_more_than(
    browser: Browser, users, world, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(board, "STALE_CAP", 1)
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    assert "more than 1 stale (over 10 days here)" in column(page, "Proposal")


@pytest.mark.parametrize(
    ("typed", "message"),
    [("0", "At least one day, or empty."), ("-3", "At least one day, or empty.")],
)
def test_a_stage_limit_below_one_day_is_refused(browser: Browser, users, stages, typed, message):
    browser.login_as(users[ADMIN])
    stage = db.session.get(LeadStage, stages["Qualified"])
    response = browser.post(
        f"/admin/lead-stages/edit/?id={stage.id}",
        {"name": "Qualified", "order_index": "3", "rotting_days": typed, "is_active": "y",
         "version": str(stage.version)},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert message in html and f'value="{typed}"' in html
    db.session.expire_all()
    assert db.session.get(LeadStage, stages["Qualified"]).rotting_days is None


def test_an_admin_sets_a_stage_limit(browser: Browser, users, stages):
    browser.login_as(users[ADMIN])
    stage = db.session.get(LeadStage, stages["Qualified"])
    response = browser.post(
        f"/admin/lead-stages/edit/?id={stage.id}",
        {"name": "Qualified", "order_index": "3", "rotting_days": "9", "is_active": "y",
         "version": str(stage.version)},
    )  # fmt: skip
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(LeadStage, stages["Qualified"]).rotting_days == 9


def test_the_badge_and_the_count_agree_on_the_day(
    browser: Browser, users, stages, db_connection: Connection
):
    """10.5 days into a 10-day stage: stale in the count and on the card alike."""
    now = datetime.now(UTC).replace(tzinfo=None)
    factories.lead(
        title="Ten and a half", stage_id=stages["Proposal"], owner_id=users[MANAGER].id,
        created_at=now - timedelta(days=10, hours=12),
    )  # fmt: skip
    browser.login_as(users[MANAGER])
    proposal = column(browser.get("/admin/pipeline/board").get_data(as_text=True), "Proposal")
    assert "1 stale (over 10 days here)" in proposal
    assert "Stale: 10 days in stage" in card(proposal, "Ten and a half")


def test_show_more_flags_no_card_in_a_closed_stage(browser: Browser, users, stages):
    now = datetime.now(UTC).replace(tzinfo=None)
    for n in range(board.CARDS + 1):
        factories.lead(
            title=f"Won {n}", stage_id=stages["Closed Won"], owner_id=users[MANAGER].id,
            created_at=now - timedelta(days=40 + n),
        )  # fmt: skip
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/board").get_data(as_text=True)
    more = re.search(r'data-url="([^"]+)"', column(page, "Closed Won")).group(1)
    extra = browser.get(more.replace("&amp;", "&")).get_data(as_text=True)
    assert "Won 20" in extra and "board-stale" not in extra  # Closed Won's 5 days: ignored
