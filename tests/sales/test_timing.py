"""Time in the pipeline (issue 17, part 4): days in each stage and to win, kept as
histograms by the database (by owner, currency and source, and for every owner) through
moves, reassignments, changes of currency or source and deletes, and velocity."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import ExchangeRate, UserRole
from crm.sales import timing
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}


@pytest.fixture
def world(stages, users, db_connection: Connection) -> dict[str, int]:
    """Four leads created 10, 20, 30 and 40 days ago in New, all moved to Contacted now;
    the 10- and 40-day ones then won. The rep owns the 40-day one; the 30-day one is in
    EUR (the others USD), the 20-day one came by referral (the others by the website)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    customer = factories.customer().id
    ids = {}
    for age in (10, 20, 30, 40):
        owner = users[REP if age == 40 else ADMIN].id
        ids[age] = factories.lead(
            title=f"{age} days", stage_id=stages["New"], customer_id=customer, owner_id=owner,
            currency="EUR" if age == 30 else "USD", source="Referral" if age == 20 else "Website",
            amount=1000 * age, probability=50,
            created_at=now - timedelta(days=age, hours=1),
        ).id  # fmt: skip
    move = text("UPDATE leads SET stage_id = :s WHERE id = ANY(:ids)")
    db_connection.execute(move, {"s": stages["Contacted"], "ids": list(ids.values())})
    db_connection.execute(move, {"s": stages["Closed Won"], "ids": [ids[10], ids[40]]})
    return ids


def kept(conn: Connection) -> list[list]:
    """Every histogram's non-empty rows, in order."""
    tables = {
        "stage_stays": ("owner_id, stage_id, currency, source", "stays"),
        "stage_stays_all": ("stage_id, currency, source", "stays"),
        "won_cycles": ("owner_id, currency, source", "leads"),
        "won_cycles_all": ("currency, source", "leads"),
    }
    return [
        conn.execute(
            text(f"SELECT {key}, days, {n} FROM {table} WHERE {n} <> 0 ORDER BY {key}, days")
        ).all()
        for table, (key, n) in tables.items()
    ]


def test_days_in_stage_and_to_win_worked_out_by_hand(world, stages, users):
    everyone = timing.stage_times(db.session, timing.Of())
    new = everyone[stages["New"]]
    assert (new.stays, new.median, new.p75) == (4, 20, 30)  # 10, 20, 30, 40 days
    assert everyone[stages["Contacted"]].stays == 2  # the two that went on to win: 0 days
    assert timing.median_days_to_win(db.session, timing.Of()) == 10  # 10 and 40: nearest rank
    rep = timing.stage_times(db.session, timing.Of(users[REP].id))
    assert rep[stages["New"]] == timing.StageTime(1, 40, 40)
    assert timing.median_days_to_win(db.session, timing.Of(users[REP].id)) == 40


def test_days_follow_the_currency_and_source_filters(world, stages, users):
    usd = timing.stage_times(db.session, timing.Of(currency="USD"))[stages["New"]]
    assert (usd.stays, usd.median, usd.p75) == (3, 20, 40)  # 10, 20, 40
    eur = timing.stage_times(db.session, timing.Of(currency="EUR"))
    assert eur[stages["New"]] == timing.StageTime(1, 30, 30)
    assert stages["Contacted"] not in eur  # the EUR lead never left Contacted
    referral = timing.Of(source="Referral")
    assert timing.stage_times(db.session, referral)[stages["New"]].median == 20
    assert timing.median_days_to_win(db.session, referral) is None  # it never won
    mine = timing.Of(users[ADMIN].id, "USD", "Website")  # the 10-day one
    assert timing.stage_times(db.session, mine)[stages["New"]] == timing.StageTime(1, 10, 10)
    assert timing.median_days_to_win(db.session, mine) == 10
    assert timing.stage_times(db.session, timing.Of(currency="GBP")) == {}


def test_the_histograms_follow_reassignments_and_deletes(
    world, stages, users, db_connection: Connection
):
    db_connection.execute(
        text("UPDATE leads SET owner_id = :o WHERE id = :id"),
        {"o": users[MANAGER].id, "id": world[40]},
    )
    assert timing.stage_times(db.session, timing.Of(users[REP].id)) == {}
    assert timing.stage_times(db.session, timing.Of(users[MANAGER].id))[stages["New"]].median == 40
    db_connection.execute(
        text("UPDATE leads SET currency = 'GBP', source = 'Event' WHERE id = :id"),
        {"id": world[20]},
    )
    gbp = timing.stage_times(db.session, timing.Of(currency="GBP", source="Event"))
    assert gbp[stages["New"]] == timing.StageTime(1, 20, 20)
    assert timing.stage_times(db.session, timing.Of(source="Referral")) == {}
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": world[10]})
    new = timing.stage_times(db.session, timing.Of())[stages["New"]]
    assert (new.stays, new.median) == (3, 30)
    before = kept(db_connection)
    db_connection.execute(text("SELECT crm_rebuild_stage_stays()"))
    assert kept(db_connection) == before  # what the triggers kept is what the history says


def test_percentiles_and_velocity():
    assert timing.percentile([], 0.5) is None
    assert timing.percentile([(3, 1), (1, 1), (2, 2)], 0.5) == 2  # 1, 2, 2, 3
    assert timing.percentile([(5, 10)], 0.75) == 5
    speed = timing.velocity(10, 0.5, 4, Decimal(8000), 20)
    assert speed.per_day == Decimal(10 * 0.5 * 2000) / 20  # 500 a day
    assert timing.velocity(10, None, 0, Decimal(0), None) is None


def test_the_page_shows_days_in_stage_and_velocity(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    db.session.add(ExchangeRate(currency="EUR", valid_from=date(2000, 1, 1), rate=Decimal(1)))
    html = browser.get("/admin/pipeline/").get_data(as_text=True)  # every currency
    new = html.split(">New</a></th>")[1].split("</tr>")[0]
    assert re.search(r'stage-median">20<.*stage-p75">30<', new, re.S)
    velocity = html.split('id="velocity"')[1].split("</div>")[0]
    # 2 open deals (20, 30 days) × 100% won × 25,000 average won (10,000 and 40,000) ÷ 10
    assert "5,000.00\xa0USD a day" in velocity and "10 days median to win" in velocity
    html = browser.get("/admin/pipeline/?currency=USD").get_data(as_text=True)
    new = html.split(">New</a></th>")[1].split("</tr>")[0]
    assert re.search(r'stage-median">20<.*stage-p75">40<', new, re.S)  # 10, 20, 40 days
    velocity = html.split('id="velocity"')[1].split("</div>")[0]
    assert "2,500.00\xa0USD a day" in velocity  # the 30-day lead (EUR) left out: 1 open deal
