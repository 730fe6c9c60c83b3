"""Days in stage and to win for a creation or expected-close range (issue 17, part 4; the
histograms by month of migration 0036), worked out by hand for three leads with fixed
histories, and kept by the triggers through a change of close date, owner and a delete."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import UserRole
from crm.sales import timing
from crm.sales.timing import Months
from tests import factories
from tests.helpers import Browser, journey

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
# Each lead: expected close, then its stages from creation on (all at 09:00).
LEADS = {
    # 10 days in New, 30 in Contacted, won 40 days after creation.
    "P": (date(2025, 3, 15), [("New", date(2025, 1, 10)), ("Contacted", date(2025, 1, 20)),
                              ("Closed Won", date(2025, 2, 19))]),
    # 20 days in New, still in Contacted.
    "Q": (date(2025, 3, 20), [("New", date(2025, 2, 5)), ("Contacted", date(2025, 2, 25))]),
    # 30 days in New, 15 in Contacted, won 45 days after creation.
    "R": (date(2025, 5, 10), [("New", date(2025, 2, 20)), ("Contacted", date(2025, 3, 22)),
                              ("Closed Won", date(2025, 4, 6))]),
}  # fmt: skip
JANUARY = Months("created", date(2025, 1, 1), date(2025, 2, 1))
FEBRUARY = Months("created", date(2025, 2, 1), date(2025, 3, 1))
CLOSING_MARCH = Months("close", date(2025, 3, 1), date(2025, 4, 1))
CLOSING_MAY = Months("close", date(2025, 5, 1), date(2025, 6, 1))


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}


@pytest.fixture
def world(stages, users, db_connection: Connection) -> dict[str, int]:
    customer = factories.customer().id
    ids = {}
    for name, (close, steps) in LEADS.items():
        ids[name] = factories.lead(
            title=name, stage_id=stages[steps[0][0]], customer_id=customer,
            owner_id=users[ADMIN].id, currency="USD", amount=1000, probability=50,
            expected_close_date=close, source="Website",
            created_at=datetime.combine(steps[0][1], datetime.min.time()) + timedelta(hours=9),
        ).id  # fmt: skip
    db_connection.execute(text("ALTER TABLE leads DISABLE TRIGGER USER"))
    for name, (_close, steps) in LEADS.items():
        at_nine = [(stages[s], datetime.combine(d, datetime.min.time()) + timedelta(hours=9))
                   for s, d in steps]  # fmt: skip
        journey(db_connection, ids[name], at_nine)
    db_connection.execute(text("ALTER TABLE leads ENABLE TRIGGER USER"))
    db_connection.execute(text("SELECT crm_rebuild_pipeline_stats(), crm_rebuild_stage_stays()"))
    return ids


def times(stages: dict[str, int], of: timing.Of) -> dict[str, tuple[int, int | None, int | None]]:
    found = timing.stage_times(db.session, of)
    return {name: (t.stays, t.median, t.p75) for name, i in stages.items() if (t := found.get(i))}


def to_win(of: timing.Of) -> int | None:
    return timing.median_days_to_win(db.session, of)


def test_each_range_as_worked_out_by_hand(world, stages, users):
    assert times(stages, timing.Of()) == {"New": (3, 20, 30), "Contacted": (2, 15, 30)}
    assert to_win(timing.Of()) == 40  # 40 and 45: nearest rank
    assert times(stages, timing.Of(months=JANUARY)) == {
        "New": (1, 10, 10),
        "Contacted": (1, 30, 30),
    }
    assert to_win(timing.Of(months=JANUARY)) == 40
    assert times(stages, timing.Of(months=FEBRUARY)) == {
        "New": (2, 20, 30),
        "Contacted": (1, 15, 15),
    }
    assert to_win(timing.Of(months=FEBRUARY)) == 45
    assert times(stages, timing.Of(months=CLOSING_MARCH))["New"] == (2, 10, 20)  # P and Q
    assert to_win(timing.Of(months=CLOSING_MARCH)) == 40
    assert times(stages, timing.Of(months=CLOSING_MAY))["New"] == (1, 30, 30)  # R
    open_ended = Months("created", date(2025, 2, 1), None)
    assert times(stages, timing.Of(months=open_ended)) == times(stages, timing.Of(months=FEBRUARY))
    assert times(stages, timing.Of(months=Months("close", None, date(2025, 1, 1)))) == {}
    assert times(stages, timing.Of(users[ADMIN].id, "USD", "Website", FEBRUARY))["New"] == (
        2, 20, 30,
    )  # fmt: skip
    assert times(stages, timing.Of(currency="EUR", months=FEBRUARY)) == {}


def test_ranges_become_whole_months():
    assert timing.months_of((date(2025, 1, 7), date(2025, 2, 10)), (None, None)) == Months(
        "created", date(2025, 1, 1), date(2025, 3, 1)
    )
    assert timing.months_of((None, None), (None, date(2025, 12, 31))) == Months(
        "close", None, date(2026, 1, 1)
    )
    both = timing.months_of((date(2025, 1, 7), None), (date(2025, 3, 1), date(2025, 3, 2)))
    assert both == Months("created", date(2025, 1, 1), None)  # the creation range's
    assert timing.months_of((None, None), (None, None)) is None
    assert (
        timing.scope(JANUARY, False) == "created from January 2025 to January 2025 (whole months)"
    )
    assert timing.scope(Months("close", None, date(2025, 6, 1)), True) == (
        "expected to close up to May 2025 (whole months; the expected-close range does not apply "
        "to them)"
    )
    assert timing.scope(None, False) == ""


def test_the_triggers_keep_the_months(world, stages, users, db_connection: Connection):
    """A new close date moves the lead's stays and win to its month; a reassignment to the
    rep and a delete take them along; and a rebuild from history gives the same."""
    move = text("UPDATE leads SET expected_close_date = '2025-03-05' WHERE id = :id")
    db_connection.execute(move, {"id": world["R"]})
    assert times(stages, timing.Of(months=CLOSING_MAY)) == {}
    assert times(stages, timing.Of(months=CLOSING_MARCH))["New"] == (3, 20, 30)
    assert to_win(timing.Of(months=CLOSING_MARCH)) == 40
    rep = users[REP].id
    db_connection.execute(
        text("UPDATE leads SET owner_id = :o WHERE id = :id"), {"o": rep, "id": world["R"]}
    )
    assert times(stages, timing.Of(rep, months=FEBRUARY)) == {
        "New": (1, 30, 30),
        "Contacted": (1, 15, 15),
    }
    assert to_win(timing.Of(rep, months=JANUARY)) is None
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": world["Q"]})
    assert times(stages, timing.Of(months=FEBRUARY))["New"] == (1, 30, 30)
    # A move today (R reopened): its stay in Closed Won, from 6 April 2025 to now, under
    # its creation month and its new close month.
    db_connection.execute(
        text("UPDATE leads SET stage_id = :s WHERE id = :id"),
        {"s": stages["Proposal"], "id": world["R"]},
    )
    won_for = (datetime.now(UTC).replace(tzinfo=None) - datetime(2025, 4, 6, 9)).days
    for months in (FEBRUARY, CLOSING_MARCH):
        assert times(stages, timing.Of(months=months))["Closed Won"] == (1, won_for, won_for)
    assert "Closed Won" not in times(stages, timing.Of(months=JANUARY))
    before = kept(db_connection)
    db_connection.execute(text("SELECT crm_rebuild_stage_stays()"))
    assert kept(db_connection) == before


def test_close_dates_and_won_imports_keep_the_histograms(
    world, stages, users, db_connection: Connection
):
    """A close date moved within its month, to another month, to none and back, and a lead
    inserted as won, leave the eight histograms as a rebuild from history makes them."""
    redate = text("UPDATE leads SET expected_close_date = :d WHERE id = :id")
    db_connection.execute(redate, {"d": date(2025, 3, 28), "id": world["P"]})  # same month
    assert to_win(timing.Of(months=CLOSING_MARCH)) == 40
    db_connection.execute(redate, {"d": None, "id": world["P"]})
    assert to_win(timing.Of(months=CLOSING_MARCH)) is None
    assert times(stages, timing.Of(months=CLOSING_MARCH))["New"] == (1, 20, 20)  # Q alone
    assert to_win(timing.Of(months=JANUARY)) == 40  # its creation month keeps it
    db_connection.execute(redate, {"d": date(2025, 5, 2), "id": world["P"]})
    assert to_win(timing.Of(months=CLOSING_MAY)) == 40  # 40 and 45 days (P, R): nearest rank
    db_connection.execute(
        text(
            "UPDATE leads SET expected_close_date = expected_close_date + 40 WHERE id IN (:p, :q)"
        ),
        {"p": world["P"], "q": world["Q"]},
    )  # P to June, Q to April, in one statement
    assert times(stages, timing.Of(months=CLOSING_MARCH)) == {}
    won = factories.lead(
        title="Imported win", stage_id=stages["Closed Won"], owner_id=users[REP].id,
        currency="USD", source="Website", amount=10, expected_close_date=date(2025, 3, 9),
        created_at=datetime(2025, 3, 3, 9),
    ).id  # fmt: skip
    assert to_win(timing.Of(users[REP].id, months=CLOSING_MARCH)) == 0
    before = kept(db_connection, undated=True)
    assert sum(row[-1] for table in before for row in table) > 0
    db_connection.execute(text("SELECT crm_rebuild_stage_stays()"))
    assert kept(db_connection, undated=True) == before
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": won})
    assert to_win(timing.Of(users[REP].id, months=CLOSING_MARCH)) is None
    assert all(row[-1] >= 0 for table in kept(db_connection, undated=True) for row in table)


def test_moves_after_date_edits_and_a_renamed_won_stage_match_a_rebuild(
    stages, users, db_connection: Connection
):
    """A move after the creation date was edited, a lead without a creation date, and the
    won stage renamed and back: the histograms stay as a rebuild from history makes them."""
    moved = text("UPDATE leads SET stage_id = :s WHERE id = :id")
    edited = factories.lead(
        title="Backdated", stage_id=stages["New"], created_at=datetime(2025, 1, 1, 9),
        expected_close_date=date(2025, 3, 1), currency="USD", source="Website",
    ).id  # fmt: skip
    db_connection.execute(
        text("UPDATE leads SET created_at = '2025-02-01 09:00' WHERE id = :id"), {"id": edited}
    )
    undated = factories.lead(title="Undated", stage_id=stages["New"]).id
    db_connection.execute(
        text("UPDATE leads SET created_at = NULL WHERE id = :id"), {"id": undated}
    )
    won = factories.lead(
        title="Won", stage_id=stages["Proposal"], created_at=datetime(2025, 1, 5, 9),
        expected_close_date=date(2025, 4, 1), owner_id=users[ADMIN].id,
    ).id  # fmt: skip
    for lead, stage in ((edited, "Contacted"), (undated, "Contacted"), (won, "Closed Won")):
        db_connection.execute(moved, {"s": stages[stage], "id": lead})
    # The stay in New ran from the history's first row (the lead's first creation date).
    first_stay = (datetime.now(UTC).replace(tzinfo=None) - datetime(2025, 1, 1, 9)).days
    assert times(stages, timing.Of(months=FEBRUARY))["New"] == (1, first_stay, first_stay)
    assert to_win(timing.Of()) is not None
    before = kept(db_connection, undated=True)
    db_connection.execute(text("SELECT crm_rebuild_stage_stays()"))
    assert kept(db_connection, undated=True) == before
    rename = text("UPDATE lead_stages SET name = :n WHERE id = :id")
    db_connection.execute(rename, {"n": "Won", "id": stages["Closed Won"]})
    assert to_win(timing.Of()) is None  # no stage is 'Closed Won' now: no win counted
    db_connection.execute(rename, {"n": "Closed Won", "id": stages["Closed Won"]})
    assert to_win(timing.Of()) is not None
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": won})
    assert to_win(timing.Of()) is None
    assert all(row[-1] >= 0 for table in kept(db_connection, undated=True) for row in table)


def kept(conn: Connection, undated: bool = False) -> list[list]:
    """The dated histograms' non-empty rows, in order (and the undated ones' if asked)."""
    tables = {
        **(
            {
                "stage_stays": "owner_id, stage_id, currency, source",
                "stage_stays_all": "stage_id, currency, source",
                "won_cycles": "owner_id, currency, source",
                "won_cycles_all": "currency, source",
            }
            if undated
            else {}
        ),
        "stage_stays_dated": "owner_id, stage_id, currency, source, dated_by, month",
        "stage_stays_dated_all": "stage_id, currency, source, dated_by, month",
        "won_cycles_dated": "owner_id, currency, source, dated_by, month",
        "won_cycles_dated_all": "currency, source, dated_by, month",
    }
    return [
        conn.execute(
            text(
                f"SELECT {key}, days, {'stays' if 'stays' in table else 'leads'} FROM {table} "
                f"WHERE {'stays' if 'stays' in table else 'leads'} <> 0 ORDER BY {key}, days"
            )
        ).all()
        for table, key in tables.items()
    ]


def test_the_page_says_which_deals_its_days_are_about(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    feb = "/admin/pipeline/?currency=USD&created_from=2025-02-10&created_to=2025-02-28"
    html = browser.get(feb).get_data(as_text=True)
    scope = html.split('id="time-scope"')[1].split("</div>")[0]
    assert "deals created from February 2025 to February 2025 (whole months)" in scope
    new = html.split(">New</a></th>")[1].split("</tr>")[0]
    # The funnel counts R alone (created from the 10th); its days, February's deals: Q and R.
    assert re.search(r'stage-median">20<.*stage-p75">30<', new, re.S)
    velocity = html.split('id="velocity"')[1].split("</div>")[0]
    assert "45 days median to win" in velocity  # R's, of February's deals
    html = browser.get("/admin/pipeline/?currency=USD").get_data(as_text=True)
    assert 'id="time-scope"' not in html
