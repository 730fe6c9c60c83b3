"""The funnel as of a past day (issue 17, part 5): rebuilt from stage history, worked out
by hand for four leads over four months (a lost deal, a lead moved backwards, a reopened
win, one that never moved), in two currencies, through both ways the numbers are read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import ExchangeRate, UserRole
from crm.sales import asof, pipeline
from tests import factories
from tests.helpers import Browser, journey

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
TODAY = datetime.now(UTC).date()  # the database's timestamps are UTC
BY = ("created_month", "created_day", "close_month", "close_day")  # migration 0035
# Each lead: owner, currency, amount, expected close, and its stages from creation on.
LEADS = {
    "A": (REP, "USD", 1000, date(2025, 6, 1), [
        ("New", date(2025, 1, 10)), ("Contacted", date(2025, 2, 5)),
        ("Qualified", date(2025, 3, 20)), ("Closed Lost", date(2025, 4, 2)),
    ]),
    "B": (ADMIN, "USD", 2000, date(2025, 12, 1), [
        ("New", date(2025, 2, 1)), ("Qualified", date(2025, 2, 15)), ("New", date(2025, 3, 1)),
    ]),
    "C": (ADMIN, "EUR", 3000, date(2025, 12, 1), [
        ("Contacted", date(2025, 3, 25)), ("Closed Won", date(2025, 3, 28)),
        ("Negotiation", date(2025, 4, 10)),
    ]),
    "D": (REP, "EUR", 4000, date(2025, 12, 1), [("New", date(2025, 1, 5))]),
}  # fmt: skip
# Stage -> (in it, reached, lost from it), at the end of each day.
EXPECTED = {
    date(2025, 1, 31): {"New": (2, 2, 0), "Contacted": (0, 0, 0), "Qualified": (0, 0, 0)},
    date(2025, 2, 28): {"New": (1, 3, 0), "Contacted": (1, 2, 0), "Qualified": (1, 1, 0)},
    date(2025, 3, 31): {
        "New": (2, 4, 0), "Contacted": (0, 3, 0), "Qualified": (1, 3, 0), "Proposal": (0, 1, 0),
        "Negotiation": (0, 1, 0), "Closed Won": (1, 1, 0),
    },
    date(2025, 4, 30): {
        "New": (2, 4, 0), "Contacted": (0, 3, 0), "Qualified": (0, 3, 1), "Proposal": (0, 1, 0),
        "Negotiation": (1, 1, 0), "Closed Won": (0, 1, 0),
    },
}  # fmt: skip


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}


@pytest.fixture
def world(stages, users, db_connection: Connection) -> dict[str, int]:
    """The four leads with their histories, and EUR at 1.10 from January, 1.20 from April."""
    for day, rate in ((date(2025, 1, 1), "1.10"), (date(2025, 4, 1), "1.20")):
        db.session.add(ExchangeRate(currency="EUR", valid_from=day, rate=Decimal(rate)))
    customer = factories.customer().id
    ids = {}
    for name, (role, currency, amount, close, steps) in LEADS.items():
        ids[name] = factories.lead(
            title=name, stage_id=stages[steps[0][0]], customer_id=customer,
            owner_id=users[role].id, currency=currency, amount=amount, probability=50,
            expected_close_date=close, source="Website",
            created_at=datetime.combine(steps[0][1], datetime.min.time()) + timedelta(hours=9),
        ).id  # fmt: skip
    db_connection.execute(text("ALTER TABLE leads DISABLE TRIGGER USER"))  # no one's edit
    for name, (*_lead, steps) in LEADS.items():
        at_nine = [(stages[s], datetime.combine(d, datetime.min.time()) + timedelta(hours=9))
                   for s, d in steps]  # fmt: skip
        journey(db_connection, ids[name], at_nine)
    db_connection.execute(text("ALTER TABLE leads ENABLE TRIGGER USER"))
    db_connection.execute(text("SELECT crm_rebuild_pipeline_stats()"))  # and the flows
    return ids


def shape(funnel: pipeline.Funnel) -> dict[str, tuple[int, int, int]]:
    return {s.name: (s.here.leads, s.reached.leads, s.lost_here.leads) for s in funnel.steps}


def as_of(user, day: date, **filters) -> pipeline.Funnel:
    return pipeline.funnel(db.session, user, pipeline.Filters(as_of=day, **filters))


@pytest.mark.parametrize("day", sorted(EXPECTED))
def test_each_day_as_worked_out_by_hand(world, users, day):
    expected = {name: EXPECTED[day].get(name, (0, 0, 0)) for name in STAGES[:-1]}
    admin = users[ADMIN]
    assert shape(as_of(admin, day)) == expected
    # The other way (creation and close ranges take it), with ranges that leave nothing out.
    wide = {"created_from": date(2024, 12, 1), "close_to": date(2026, 1, 1)}
    assert shape(as_of(admin, day, **wide)) == expected
    # And the flows by creation month (a creation range alone), whole months and a part one.
    for created in ({"created_from": date(2024, 12, 1)}, {"created_from": date(2024, 12, 20)}):
        assert shape(as_of(admin, day, **created)) == expected, created


def test_creation_ranges_through_the_flows_by_month(world, users):
    """Every owner's with a creation range alone: whole months from the flows by creation
    month, partial months at either end by creation day, the as-of day's month whole."""
    admin = users[ADMIN]
    after_d = as_of(admin, date(2025, 3, 31), created_from=date(2025, 1, 7))  # D: Jan 5
    assert shape(after_d) == {
        **EXPECTED[date(2025, 3, 31)], "New": (1, 3, 0),
    }  # fmt: skip
    before_c = as_of(admin, date(2025, 3, 31), created_to=date(2025, 3, 24))  # C: Mar 25
    assert shape(before_c) == {
        "New": (2, 3, 0), "Contacted": (0, 2, 0), "Qualified": (1, 2, 0), "Proposal": (0, 0, 0),
        "Negotiation": (0, 0, 0), "Closed Won": (0, 0, 0),
    }  # fmt: skip
    # The day C was created, in March's flows: in Contacted (its first stage) that evening.
    march = as_of(admin, date(2025, 3, 25), created_from=date(2025, 3, 1))
    assert shape(march)["Contacted"] == (1, 1, 0)
    assert sum(step.here.leads for step in march.steps) == 1
    one_month = as_of(admin, date(2025, 4, 30), created_from=date(2025, 2, 1),
                      created_to=date(2025, 2, 28), currency="USD")  # fmt: skip
    assert shape(one_month)["New"] == (1, 1, 0)  # B, back in New
    assert one_month.steps[0].here.amount == Decimal(2000)


def test_close_ranges_through_the_flows_by_close_date(world, users, db_connection: Connection):
    """Every owner's with an expected-close range alone: by close month and day, each lead
    under the close date it had that day (A: June 1, moved to December today)."""
    admin, day = users[ADMIN], date(2025, 4, 30)
    for close in ((date(2025, 6, 1), date(2025, 6, 30)), (date(2025, 5, 20), date(2025, 6, 10))):
        closing = as_of(admin, day, close_from=close[0], close_to=close[1])
        assert (closing.lost.here.leads, sum(s.here.leads for s in closing.steps)) == (1, 0)
        assert shape(closing)["Qualified"] == (0, 1, 1)  # A passed it, and was lost from it
    december = as_of(admin, day, close_from=date(2025, 12, 1))  # B, C, D
    assert sum(s.here.leads for s in december.steps) == 3
    db_connection.execute(
        text("UPDATE leads SET expected_close_date = '2025-12-01' WHERE id = :id"),
        {"id": world["A"]},
    )
    june = as_of(admin, day, close_from=date(2025, 6, 1), close_to=date(2025, 6, 1))
    assert june.lost.here.leads == 1  # as it stood that day
    assert (
        as_of(admin, TODAY, close_from=date(2025, 6, 1), close_to=date(2025, 6, 1)).lost.here.leads
        == 0
    )
    assert as_of(admin, TODAY, close_from=date(2025, 12, 1)).lost.here.leads == 1


def test_a_lead_deleted_since_still_counts_in_a_creation_range(
    world, users, db_connection: Connection
):
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": world["D"]})
    day, january = date(2025, 3, 31), {"created_from": date(2025, 1, 1)}
    assert shape(as_of(users[ADMIN], day, **january)) == EXPECTED[day] | {"New": (2, 4, 0)}


def test_win_rate_lost_deals_and_amounts_at_the_days_rates(world, users):
    admin = users[ADMIN]
    march, april = as_of(admin, date(2025, 3, 31)), as_of(admin, date(2025, 4, 30))
    assert (march.win_rate, april.win_rate) == (1.0, 0.0)
    assert (march.lost.here.leads, april.lost.here.leads) == (0, 1)
    assert march.steps[0].here.amount == Decimal("2000") + Decimal("4000") * Decimal("1.10")
    assert april.steps[0].here.amount == Decimal("2000") + Decimal("4000") * Decimal("1.20")
    assert march.won.amount == Decimal("3300")  # C, 3,000 EUR at 1.10
    eur = as_of(admin, date(2025, 3, 31), currency="EUR")  # one currency: its own amounts
    assert (eur.steps[0].here.leads, eur.steps[0].here.amount) == (1, Decimal("4000"))


def test_nothing_before_the_first_lead(world, users):
    funnel = as_of(users[ADMIN], date(2024, 12, 31))
    assert sum(s.here.leads for s in funnel.steps) == 0
    assert funnel.win_rate is None


def test_a_rep_sees_their_own_leads_as_they_stood(world, users):
    rep = as_of(users[REP], date(2025, 3, 31), owner_id=users[ADMIN].id)  # asks for another's
    assert shape(rep)["New"] == (1, 2, 0)  # D in New; A (Qualified) reached it
    assert shape(rep)["Qualified"] == (1, 1, 0)
    assert rep.won.leads == 0  # C is the admin's


def test_creation_and_close_ranges(world, users):
    admin = users[ADMIN]
    january = as_of(admin, date(2025, 3, 31), created_from=date(2025, 1, 1),
                    created_to=date(2025, 1, 31))  # fmt: skip
    assert shape(january)["New"] == (1, 2, 0)  # A and D
    assert shape(january)["Qualified"] == (1, 1, 0)
    later = as_of(admin, date(2025, 2, 28), created_from=date(2025, 3, 1))
    assert sum(s.here.leads for s in later.steps) == 0  # created after the day
    closing = as_of(admin, date(2025, 4, 30), close_from=date(2025, 5, 1),
                    close_to=date(2025, 7, 1))  # fmt: skip
    assert closing.lost.here.leads == 1  # A alone closes then
    assert sum(s.here.leads for s in closing.steps) == 0


def flows_now(conn: Connection) -> list:
    return conn.execute(
        text(
            "SELECT owner_id, stage_id, currency, source, stages_passed, previous_stage_id, "
            "sum(leads), sum(amount), sum(weighted) FROM pipeline_flows "
            "GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(leads) <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
        )
    ).all()


def test_todays_changes_are_flows_of_today(world, stages, users, db_connection: Connection):
    """Moves, amount changes and deletes by any path count from their day on; the day
    before stays as it was (a deleted lead still counts on the days it existed)."""
    yesterday = TODAY - timedelta(days=1)
    admin = users[ADMIN]
    before = shape(as_of(admin, yesterday))
    db_connection.execute(
        text("UPDATE leads SET stage_id = :s, amount = 2500 WHERE id = :id"),
        {"s": stages["Contacted"], "id": world["B"]},
    )
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": world["D"]})
    assert shape(as_of(admin, yesterday)) == before
    assert shape(as_of(admin, TODAY))["New"] == (0, 3, 0)  # D (deleted) gone from today
    today = as_of(admin, TODAY, currency="USD")
    assert shape(today)["New"] == (0, 2, 0)  # the USD leads: A (lost) and B (moved on)
    assert shape(today)["Contacted"] == (1, 2, 0)  # B is in it, A passed it
    assert today.steps[1].here.amount == Decimal("2500")
    assert as_of(admin, yesterday, currency="USD").steps[0].here.amount == Decimal("2000")
    # Every flow summed is the pipeline now, as the aggregates have it.
    totals = db_connection.execute(
        text(
            "SELECT owner_id, stage_id, currency, source, stages_passed, previous_stage_id, "
            "leads, amount, weighted FROM pipeline_totals WHERE leads <> 0 "
            "ORDER BY 1, 2, 3, 4, 5, 6"
        )
    ).all()
    assert flows_now(db_connection) == totals
    for by in BY:  # the flows by the leads' dates sum to the leads there now
        expected = db_connection.execute(
            text(
                f"SELECT {LEAD_DATE[by]}, {LEAD}, count(*), sum(amount), "
                "sum(amount * probability / 100.0) FROM leads "
                "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
            )
        ).all()
        assert dated_flows_now(db_connection, by) == expected, by
    january = {"created_from": date(2025, 1, 1)}  # the flows by creation month agree
    assert shape(as_of(admin, yesterday, **january)) == before
    assert shape(as_of(admin, TODAY, **january))["New"] == (0, 3, 0)
    part = {"created_from": date(2024, 12, 20)}  # and by creation day
    assert shape(as_of(admin, yesterday, **part)) == before
    assert shape(as_of(admin, TODAY, **part))["New"] == (0, 3, 0)


LEAD = "stage_id, currency, source, stages_passed, previous_stage_id"
LEAD_DATE = {
    "created_month": "CAST(date_trunc('month', created_at) AS date)",
    "created_day": "CAST(created_at AS date)",
    "close_month": "CAST(date_trunc('month', expected_close_date) AS date)",
    "close_day": "expected_close_date",
}


def dated_flows_now(conn: Connection, by: str) -> list:
    return conn.execute(
        text(
            f"SELECT {by}, {LEAD}, sum(leads), sum(amount), sum(weighted) "
            f"FROM pipeline_flows_{by} "
            "GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(leads) <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
        )
    ).all()


def forget_checkpoints_after(conn: Connection, month: date) -> None:
    dated = (f"pipeline_checkpoints_{by}" for by in BY)
    for table in ("pipeline_checkpoints", *dated, "pipeline_checkpoint_months"):
        conn.execute(text(f"DELETE FROM {table} WHERE month > :month"), {"month": month})


def test_checkpoints_are_made_when_missing_and_agree(
    world, stages, users, db_connection: Connection
):
    months = "SELECT month FROM pipeline_checkpoint_months ORDER BY 1"
    made = db_connection.execute(text(months)).scalars().all()
    newest = (TODAY - timedelta(days=1)).replace(day=1)  # a month once its first day is over
    assert (made[0], made[-1]) == (date(2025, 1, 1), newest)
    april = db_connection.execute(
        text(
            "SELECT stage_id, sum(leads) FROM pipeline_checkpoints "
            "WHERE month = '2025-04-01' GROUP BY 1 ORDER BY 1"
        )
    ).all()
    expected = {"New": 2, "Qualified": 1, "Closed Won": 1}  # at the end of March
    assert april == sorted((stages[name], n) for name, n in expected.items())
    forget_checkpoints_after(db_connection, date(2025, 2, 1))
    april = {name: EXPECTED[date(2025, 4, 30)].get(name, (0, 0, 0)) for name in STAGES[:-1]}
    # Reading makes nothing: the February checkpoint and every flow since give the same.
    assert shape(as_of(users[ADMIN], date(2025, 4, 30))) == april
    assert db_connection.execute(text(months)).scalars().all()[-1] == date(2025, 2, 1)
    asof.make_checkpoints(db.session, date(2025, 4, 30))
    remade = db_connection.execute(text(months)).scalars().all()
    assert remade[-1] == date(2025, 4, 1)  # made up to the month asked for, no further
    assert shape(as_of(users[ADMIN], date(2025, 4, 30))) == april


def test_the_page_makes_the_checkpoint_it_needs(browser: Browser, users, world, db_connection):
    forget_checkpoints_after(db_connection, date(2025, 2, 1))
    browser.login_as(users[MANAGER])
    html = browser.get("/admin/pipeline/?as_of=2025-03-31").get_data(as_text=True)
    assert '<th scope="row">Closed Won</th>' in html
    newest = "SELECT max(month) FROM pipeline_checkpoint_months"
    assert db_connection.scalar(text(newest)) == date(2025, 3, 1)


def test_moves_that_cross_on_one_path_keep_their_amounts(
    world, stages, users, db_connection: Connection
):
    """X leaves New for Contacted and Y leaves Contacted for Qualified after the day: on
    Contacted one lead goes out and one comes in, and the amounts must not cancel."""
    customer = factories.customer().id
    steps = {"X": [("New", date(2025, 3, 1))], "Y": [("New", date(2025, 3, 1)),
             ("Contacted", date(2025, 3, 10))]}  # fmt: skip
    ids = {}
    for name, amount in (("X", 100), ("Y", 500)):
        ids[name] = factories.lead(
            title=name, stage_id=stages[steps[name][-1][0]], customer_id=customer,
            owner_id=users[MANAGER].id, currency="USD", amount=amount, source="Event",
            created_at=datetime(2025, 3, 1, 9),
        ).id  # fmt: skip
    db_connection.execute(text("ALTER TABLE leads DISABLE TRIGGER USER"))
    for name in ids:
        at_nine = [(stages[s], datetime.combine(d, datetime.min.time()) + timedelta(hours=9))
                   for s, d in steps[name]]  # fmt: skip
        journey(db_connection, ids[name], at_nine)
    db_connection.execute(text("ALTER TABLE leads ENABLE TRIGGER USER"))
    db_connection.execute(text("SELECT crm_rebuild_pipeline_stats()"))
    for name, stage in (("X", "Contacted"), ("Y", "Qualified")):  # today, by raw SQL
        db_connection.execute(
            text("UPDATE leads SET stage_id = :s WHERE id = :id"),
            {"s": stages[stage], "id": ids[name]},
        )
    day, mine = date(2025, 3, 31), {"source": "Event", "currency": "USD"}
    for extra in ({}, {"created_from": date(2025, 1, 1)}):  # both ways
        funnel = as_of(users[ADMIN], day, **mine, **extra)
        contacted = funnel.steps[1].here
        assert (contacted.leads, contacted.amount) == (1, Decimal(500)), extra  # Y, not X
        assert (funnel.steps[0].here.leads, funnel.steps[0].here.amount) == (1, Decimal(100))


def test_rebuilding_from_history_gives_what_the_triggers_kept(
    world, stages, users, db_connection: Connection
):
    lead = factories.lead(
        title="E", stage_id=stages["New"], customer_id=factories.customer().id,
        owner_id=users[MANAGER].id, currency="USD", amount=700, probability=20, source="Website",
    ).id  # fmt: skip
    for stage in ("Proposal", "Contacted"):
        db_connection.execute(
            text("UPDATE leads SET stage_id = :s WHERE id = :id"), {"s": stages[stage], "id": lead}
        )

    def every_flow() -> list:
        return [flows_now(db_connection), *(dated_flows_now(db_connection, by) for by in BY)]

    kept = every_flow()
    db_connection.execute(text("SELECT crm_rebuild_pipeline_flows()"))
    assert every_flow() == kept


def test_the_page_says_which_day_and_leaves_out_todays_figures(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    html = browser.get("/admin/pipeline/?as_of=2025-03-31").get_data(as_text=True)
    assert "as it stood at the end of 31 March 2025" in html
    assert "each converted at the rate valid on 2025-03-31" in html  # one day's rates
    assert "Median days here" not in html and 'id="cohorts"' not in html
    row = html.split('<th scope="row">Closed Won</th>')[1].split("</tr>")[0]
    assert '<td class="text-right">1</td>' in row  # C had won; no link to today's lead list
    assert 'name="as_of" type="date" value="2025-03-31"' in html


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("31/03/2025", "Use a date like 2026-01-31."),
        ((TODAY + timedelta(days=1)).isoformat(), "Pick today or an earlier day"),
        ("0001-01-01", "Use a date between 1900 and 9998."),
    ],
)
def test_a_bad_day_is_named_beside_the_field_and_kept(browser: Browser, users, value, message):
    browser.login_as(users[MANAGER])
    response = browser.get(f"/admin/pipeline/?as_of={value}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    field = html.split('id="as_of"')[1].split("</div>")[0]
    assert message in field and f'value="{value}"' in html
    assert 'id="pipeline-invalid"' in html


def test_the_board_shows_today_whatever_the_as_of_day(browser: Browser, users, world):
    day = pipeline.Filters(as_of=date(2025, 3, 31))
    board = pipeline.funnel(db.session, users[ADMIN], day, for_board=True)
    now = pipeline.funnel(db.session, users[ADMIN], pipeline.Filters(), for_board=True)
    assert [s.here for s in board.steps] == [s.here for s in now.steps]
    assert board.won.leads == 0  # C is in Negotiation now (it had won on that day)
    browser.login_as(users[MANAGER])
    funnel = browser.get("/admin/pipeline/?as_of=2025-03-31").get_data(as_text=True)
    board_link = funnel.split('class="nav-link" href="')[1].split('"')[0]
    assert "as_of" not in board_link


def test_the_same_as_live_on_today(world, users):
    live = pipeline.funnel(db.session, users[ADMIN], pipeline.Filters())
    today = as_of(users[ADMIN], TODAY)
    assert shape(today) == shape(live)
    assert (today.win_rate, today.lost.here.leads) == (live.win_rate, live.lost.here.leads)


def test_a_rep_counts_the_leads_they_owned_that_day(world, users, db_connection: Connection):
    """Reassigned today: yesterday it was the rep's (the flows know); with a date range,
    the leads there now are counted under their owner now (the history knows no owners)."""
    db_connection.execute(
        text("UPDATE leads SET owner_id = :o WHERE id = :id"),
        {"o": users[ADMIN].id, "id": world["D"]},
    )
    yesterday = TODAY - timedelta(days=1)
    rep = users[REP]
    assert shape(as_of(rep, yesterday))["New"] == (1, 2, 0)  # D, and A (lost) reached it
    assert shape(as_of(rep, TODAY))["New"] == (0, 1, 0)  # D is the admin's now
    ranged = as_of(rep, yesterday, created_from=date(2024, 12, 1))
    assert shape(ranged)["New"] == (0, 1, 0)
