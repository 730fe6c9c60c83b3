"""The funnel from stage history (issue 17, part 3): a lead reached a stage if it was
ever in it or a later one; lost deals count for the stages they passed, reopened deals
and leads moved backwards for the furthest they went; where deals were lost. Numbers
worked out by hand, the same on every path the funnel reads."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import UserRole
from crm.sales import pipeline
from tests import factories
from tests.helpers import Browser

MANAGER, ADMIN = UserRole.MANAGER, UserRole.ADMIN
TODAY = datetime.now(UTC).date()  # the database's timestamps are UTC
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
# Each lead's moves after it is created in New.
PATHS = {
    "lost_late": ("Contacted", "Qualified", "Proposal", "Negotiation", "Closed Lost"),
    "won": ("Contacted", "Closed Won"),
    "backwards": ("Qualified", "Contacted"),
    "reopened": ("Closed Won", "Negotiation"),
    "new": (),
    "lost_early": ("Closed Lost",),
}


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}


@pytest.fixture
def world(stages, users, db_connection: Connection) -> dict[str, int]:
    customer = factories.customer().id
    ids = {}
    for name, moves in PATHS.items():
        ids[name] = factories.lead(
            title=name, stage_id=stages["New"], currency="USD", amount=100, probability=50,
            customer_id=customer, owner_id=users[ADMIN].id, expected_close_date=date(2027, 1, 15),
            source="Website",
        ).id  # fmt: skip
        for stage in moves:  # raw SQL, as any client could: the trigger keeps the path
            db_connection.execute(
                text("UPDATE leads SET stage_id = :s WHERE id = :id"),
                {"s": stages[stage], "id": ids[name]},
            )
    return ids


def reached(funnel: pipeline.Funnel) -> dict[str, tuple[int, int, int]]:
    """Stage -> (in it now, reached, lost from it)."""
    return {s.name: (s.here.leads, s.reached.leads, s.lost_here.leads) for s in funnel.steps}


EXPECTED = {
    "New": (1, 6, 1),  # everyone; lost_early was lost from New
    "Contacted": (1, 4, 0),  # lost_late, won, backwards, reopened
    "Qualified": (0, 4, 0),  # the same four: backwards went as far as Qualified
    "Proposal": (0, 3, 0),  # lost_late, won, reopened
    "Negotiation": (1, 3, 1),  # lost_late lost here; reopened is here now
    "Closed Won": (1, 2, 0),  # won, and reopened, which was won once
}


@pytest.mark.parametrize(
    "filters",
    [
        pipeline.Filters(),  # every currency: pipeline_months
        pipeline.Filters(currency="USD"),  # pipeline_months, one currency
        pipeline.Filters(currency="USD", created_from=TODAY - timedelta(days=1)),  # leads
        pipeline.Filters(created_from=TODAY.replace(day=1)),  # pipeline_months, dated
        pipeline.Filters(close_from=date(2027, 1, 1), close_to=date(2027, 1, 31)),  # closing
        pipeline.Filters(close_to=date(2027, 1, 31), source="Website"),  # with a source: leads
        pipeline.Filters(owner_id=-1, created_from=TODAY - timedelta(days=1)),  # see below
    ],
    ids=[
        "converted", "one-currency", "partial-month", "whole-month", "close-range",
        "close-range-and-source", "owners-partial-month",
    ],
)  # fmt: skip
def test_reached_counts_every_stage_a_lead_passed(world, users, filters):
    if filters.owner_id == -1:  # one owner's partial month: their own leads, not pipeline_days
        filters = replace(filters, owner_id=users[ADMIN].id)
    funnel = pipeline.funnel(db.session, users[MANAGER], filters)
    assert reached(funnel) == EXPECTED
    assert funnel.lost.here.leads == 2
    conversion = {s.name: s.conversion for s in funnel.steps}
    assert conversion["New"] == pytest.approx(4 / 6)
    assert conversion["Contacted"] == pytest.approx(1.0)
    assert conversion["Qualified"] == pytest.approx(3 / 4)
    assert conversion["Negotiation"] == pytest.approx(2 / 3)
    assert conversion["Closed Won"] is None
    assert funnel.win_rate == pytest.approx(1 / 3)  # won now ÷ (won + lost now)
    assert funnel.steps[0].reached.amount == 600  # reached sums the amounts too


def test_the_path_matches_the_stage_history(world, stages, db_connection: Connection):
    """leads.stages_passed is the stages each lead left, as lead_stage_history has them."""
    rows = db_connection.execute(
        text(
            "SELECT l.title, l.stages_passed, l.previous_stage_id, "
            "       (SELECT array_agg(DISTINCT h.from_stage_id ORDER BY h.from_stage_id) "
            "          FROM lead_stage_history h "
            "         WHERE h.lead_id = l.id AND h.from_stage_id IS NOT NULL), "
            "       l.stage_entered_at = (SELECT max(changed_at) FROM lead_stage_history h "
            "                              WHERE h.lead_id = l.id) "
            "FROM leads l WHERE l.id = ANY(:ids)"
        ),
        {"ids": list(world.values())},
    ).all()
    for title, passed, previous, from_history, entered_matches in rows:
        assert passed == (from_history or []), title
        moves = PATHS[title]
        left = moves[-2] if len(moves) > 1 else ("New" if moves else None)
        assert previous == (stages[left] if left else None), title
        assert entered_matches is (True if moves else None), title
    names = {v: k for k, v in stages.items()}
    lost_late = next(r for r in rows if r[0] == "lost_late")
    assert sorted(names[s] for s in lost_late[1]) == sorted(STAGES[:5])


def test_nobody_writes_the_path_but_the_trigger(world, stages, db_connection: Connection):
    lead = world["won"]
    db_connection.execute(
        text(
            "UPDATE leads SET stages_passed = '{}', previous_stage_id = NULL, "
            "stage_entered_at = NULL, title = 'Renamed' WHERE id = :id"
        ),
        {"id": lead},
    )
    passed, previous = db_connection.execute(
        text("SELECT stages_passed, previous_stage_id FROM leads WHERE id = :id"), {"id": lead}
    ).one()
    assert sorted(passed) == sorted([stages["New"], stages["Contacted"]])
    assert previous == stages["Contacted"]
    fresh = db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id, stages_passed, previous_stage_id) "
            "VALUES ('Forged', :s, ARRAY[:s], :s) RETURNING stages_passed, previous_stage_id"
        ),
        {"s": stages["Proposal"]},
    ).one()
    assert tuple(fresh) == ([], None)


def test_the_path_is_not_in_the_audit_trail(world, db_connection: Connection):
    changed = db_connection.execute(
        text(
            "SELECT count(*) FROM audit_logs WHERE table_name = 'leads' AND "
            "(new_values ? 'stages_passed' OR new_values ? 'stage_entered_at' "
            " OR new_values ? 'previous_stage_id')"
        )
    ).scalar_one()
    assert changed == 0


def test_the_page_shows_reached_and_lost_from_each_stage(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    html = browser.get("/admin/pipeline/").get_data(as_text=True)
    rows = dict(
        re.findall(
            r'<th scope="row"><a href="[^"]*">([^<]+)</a></th>\s*'
            r'(?:<td class="text-right">[^<]*</td>\s*){4}'
            r'<td class="text-right lost-here">([^<]+)</td>',
            html,
        )
    )
    assert rows["Negotiation"] == "1" and rows["New"] == "1" and rows["Proposal"] == "0"
    assert "were ever in it or a later stage" in html


def test_cohorts_say_how_far_each_months_leads_went(world, users, db_connection: Connection):
    db_connection.execute(  # one lead from an earlier month: a cohort of its own
        text("UPDATE leads SET created_at = TIMESTAMP '2026-02-10 09:00' WHERE id = :id"),
        {"id": world["won"]},
    )
    cohorts = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters()).cohorts
    assert [(c.month, c.leads, c.reached) for c in cohorts] == [
        (TODAY.replace(day=1), 5, [5, 3, 3, 2, 2, 1]),  # newest first; won moved out
        (date(2026, 2, 1), 1, [1, 1, 1, 1, 1, 1]),
    ]
    assert cohorts[0].shares()[1] == pytest.approx(3 / 5)


def test_the_page_draws_the_cohorts_and_lists_them(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    html = browser.get("/admin/pipeline/").get_data(as_text=True)
    assert 'id="cohort-figure"' in html and '"type":"heatmap"' in html
    table = html.split('id="cohort-table"')[1].split("</table>")[0]
    assert re.search(
        r'<td class="text-right">6</td>\s*<td class="text-right">100\.0%</td>\s*'
        r'<td class="text-right">66\.7%</td>',
        table,
    )
