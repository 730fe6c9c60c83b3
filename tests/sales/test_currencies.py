"""Every currency counted, amounts converted at the rate of each lead's creation day
(issue 17, part 1): numbers worked out by hand, leads without a rate, a rate that
starts mid-month, every path (aggregates, creation edges, close range), the forecast,
the row rules and the pages."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from flask import Flask

from crm.extensions import db
from crm.models import ExchangeRate, UserRole
from crm.sales import dashboard, pipeline
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
STAGES = ("New", "Contacted", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
# currency, valid from, rate to USD: EUR changes on March 1st and again on the 15th.
RATES = (
    ("EUR", date(2026, 3, 1), "1.10"),
    ("EUR", date(2026, 3, 15), "1.20"),
    ("GBP", date(2026, 1, 1), "1.25"),
)


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate(STAGES, 1)}


@pytest.fixture
def world(stages, users) -> dict[str, int]:
    """Six leads in four currencies; two have no rate for their day (see each)."""
    for currency, day, rate in RATES:
        db.session.add(ExchangeRate(currency=currency, valid_from=day, rate=Decimal(rate)))
    customer = factories.customer().id

    def lead(stage: str, currency: str, amount: int, created: date, **extra) -> int:
        fields = {"owner_id": users[ADMIN].id, "probability": 50, "source": "Website", **extra}
        return factories.lead(
            stage_id=stages[stage], currency=currency, amount=amount, customer_id=customer,
            created_at=datetime.combine(created, datetime.min.time()).replace(hour=12),
            **fields,
        ).id  # fmt: skip

    return {
        "usd": lead("New", "USD", 100, date(2026, 3, 10)),  # 100
        "eur_early": lead("New", "EUR", 200, date(2026, 3, 10)),  # × 1.10 = 220
        "eur_late": lead("Qualified", "EUR", 300, date(2026, 3, 20)),  # × 1.20 = 360
        "gbp": lead("Closed Won", "GBP", 1000, date(2026, 2, 5)),  # × 1.25 = 1,250
        "gbp_old": lead("New", "GBP", 400, date(2025, 12, 1)),  # before GBP's first rate
        "chf": lead("Closed Lost", "CHF", 500, date(2026, 3, 10)),  # no CHF rate at all
        "rep_eur": lead(
            "Proposal", "EUR", 1000, date(2026, 3, 16), owner_id=users[REP].id
        ),  # × 1.20 = 1,200
    }


def amounts(funnel: pipeline.Funnel) -> dict[str, tuple[int, Decimal, int]]:
    steps = [*funnel.steps, *([funnel.lost] if funnel.lost else [])]
    return {s.name: (s.here.leads, s.here.amount, s.here.unrated) for s in steps if s.here.leads}


def test_every_lead_is_counted_and_every_amount_converted_at_its_days_rate(world, users):
    funnel = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters())
    assert amounts(funnel) == {
        "New": (3, Decimal("320.00"), 1),  # 100 + 200 × 1.10; GBP 400 has no rate
        "Qualified": (1, Decimal("360.00"), 0),  # 300 × 1.20 (from the 15th)
        "Proposal": (1, Decimal("1200.00"), 0),  # the rep's 1,000 × 1.20
        "Closed Won": (1, Decimal("1250.00"), 0),
        "Closed Lost": (1, Decimal(0), 1),  # CHF: counted, amount left out
    }
    new = funnel.steps[0]
    assert new.here.weighted == Decimal("160.00")  # (100 + 220) × 50%
    assert new.reached.leads == 6  # every lead but Closed Lost's
    assert funnel.win_rate == pytest.approx(1 / 2)
    unrated = funnel.rates.unrated
    assert sorted(unrated) == ["CHF", "GBP"]
    assert (unrated["GBP"].leads, unrated["GBP"].amount) == (1, Decimal(400))
    assert unrated["GBP"].earliest == date(2025, 12, 1)  # a rate from then would cover it
    assert (unrated["CHF"].leads, unrated["CHF"].amount) == (1, Decimal(500))
    used = {currency: (n, newest.rate) for currency, n, _old, newest in funnel.rates.summary()}
    assert used == {"EUR": (2, Decimal("1.20")), "GBP": (1, Decimal("1.25"))}


def test_one_currency_shows_its_own_amounts_and_only_its_leads(world, users):
    funnel = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters(currency="EUR"))
    assert amounts(funnel) == {
        "New": (1, Decimal(200), 0),
        "Qualified": (1, Decimal(300), 0),
        "Proposal": (1, Decimal(1000), 0),
    }
    assert funnel.rates is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # Whole months from the aggregates; March split by day (EUR's rate of the 15th).
        (
            pipeline.Filters(created_from=date(2026, 3, 1), created_to=date(2026, 3, 31)),
            {"New": (2, Decimal("320.00"), 0), "Qualified": (1, Decimal("360.00"), 0),
             "Proposal": (1, Decimal("1200.00"), 0), "Closed Lost": (1, Decimal(0), 1)},
        ),
        # A partial month, from the leads.
        (
            pipeline.Filters(created_from=date(2026, 3, 12), created_to=date(2026, 3, 25)),
            {"Qualified": (1, Decimal("360.00"), 0), "Proposal": (1, Decimal("1200.00"), 0)},
        ),
        # An expected-close range: pipeline_closing (GBP), March's EUR split by day.
        (
            pipeline.Filters(close_from=date(2026, 6, 1), close_to=date(2026, 6, 30)),
            {"New": (1, Decimal("220.00"), 0), "Qualified": (1, Decimal("360.00"), 0),
             "Closed Won": (1, Decimal("1250.00"), 0)},
        ),
        (
            pipeline.Filters(source="Referral"),
            {"New": (1, Decimal("100.00"), 0)},
        ),
    ],
    ids=["whole-month", "partial-month", "close-range", "source"],
)  # fmt: skip
def test_every_filter_path_converts_the_same_way(world, users, filters, expected):
    db.session.execute(
        db.text(
            "UPDATE leads SET expected_close_date = DATE '2026-06-10' WHERE id IN (:a, :b, :c)"
        ).bindparams(a=world["eur_early"], b=world["eur_late"], c=world["gbp"])
    )
    db.session.execute(
        db.text("UPDATE leads SET source = 'Referral' WHERE id = :id").bindparams(id=world["usd"])
    )
    assert amounts(pipeline.funnel(db.session, users[MANAGER], filters)) == expected


def test_a_rep_sees_only_their_own_leads_converted(world, users):
    asked = pipeline.Filters(owner_id=users[ADMIN].id)  # ignored: a rep's pipeline is theirs
    funnel = pipeline.funnel(db.session, users[REP], asked)
    assert amounts(funnel) == {"Proposal": (1, Decimal("1200.00"), 0)}
    assert funnel.rates.unrated == {}  # nobody else's missing rates either


def test_the_forecast_converts_every_currency(world, users, stages):
    for key, close in (("usd", "2026-04-10"), ("eur_late", "2026-04-20"), ("chf", "2026-04-02")):
        db.session.execute(
            db.text("UPDATE leads SET expected_close_date = :d WHERE id = :id").bindparams(
                d=date.fromisoformat(close), id=world[key]
            )
        )
    db.session.execute(
        db.text("UPDATE leads SET stage_id = :s WHERE id = :id").bindparams(
            s=stages["Negotiation"], id=world["chf"]
        )
    )
    months = dashboard.forecast(db.session, users[MANAGER], None, date(2026, 3, 5))
    april = next(m for m in months if m.month == date(2026, 4, 1))
    assert april.amount == Decimal("460.00")  # 100 + 300 × 1.20; CHF 500 has no rate
    assert april.weighted == Decimal("230.00")
    in_euros = dashboard.forecast(db.session, users[MANAGER], "EUR", date(2026, 3, 5))
    assert next(m for m in in_euros if m.month == date(2026, 4, 1)).amount == Decimal(300)
    rates = pipeline.load_rates(db.session)
    dashboard.forecast(db.session, users[MANAGER], None, date(2026, 3, 5), rates=rates)
    assert list(rates.unrated) == ["CHF"]


def test_another_base_currency_converts_to_it(app: Flask, world, users):
    db.session.add(ExchangeRate(currency="USD", valid_from=date(2020, 1, 1), rate=Decimal("0.5")))
    app.config["BASE_CURRENCY"] = "EUR"
    try:
        funnel = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters())
    finally:
        app.config["BASE_CURRENCY"] = "USD"
    # USD 100 × 0.5; the EUR leads at 1; GBP's and CHF's rates are to USD, not EUR:
    # an admin would enter them again for EUR (here: none, so "no rate").
    assert amounts(funnel)["New"] == (3, Decimal("250.0"), 1)
    assert funnel.rates.base == "EUR"


def test_the_pages_say_which_rates_they_used_and_list_the_missing_ones(
    browser: Browser, users, world
):
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/pipeline/").get_data(as_text=True)
    assert "Every currency, amounts in USD" in page
    assert "EUR: 2 rates from 2026-03-01, latest 1.2 from 2026-03-15" in page
    missing = page.split('id="rates-missing"')[1].split("</div>")[0]
    assert "CHF: 1 lead, 500.00" in missing and "GBP: 1 lead, 400.00" in missing
    assert "/admin/exchange-rates/new/?currency=GBP&amp;valid_from=2025-12-01" in missing
    assert re.search(r"320\.00\xa0USD <span class=\"badge badge-warning no-rate\"", page)
    board = browser.get("/admin/pipeline/board").get_data(as_text=True)
    assert 'id="rates-missing"' in board and "+ 1 no rate" in board
    home = browser.get("/admin/").get_data(as_text=True)
    assert "(every currency, in USD)" in home and 'id="rates-used"' in home
    in_euros = browser.get("/admin/pipeline/?currency=EUR").get_data(as_text=True)
    assert 'id="rates-missing"' not in in_euros and "Leads in EUR only" in in_euros


def test_a_manager_is_told_who_can_add_a_rate(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    page = browser.get("/admin/pipeline/").get_data(as_text=True)
    missing = page.split('id="rates-missing"')[1].split("</div>")[0]
    assert "an admin can add a CHF rate valid from 2026-03-01 or earlier" in missing
    assert "/admin/exchange-rates/new/" not in missing


def test_a_rate_link_fills_in_the_new_rate_form(browser: Browser, users):
    browser.login_as(users[ADMIN])
    form = browser.get("/admin/exchange-rates/new/?currency=chf&valid_from=2026-03-01")
    html = form.get_data(as_text=True)
    assert re.search(r'name="currency"[^>]*value="CHF"', html)
    assert re.search(r'name="valid_from"[^>]*value="2026-03-01"', html)
    assert "worth in USD, the base currency" in html
    bad = browser.get("/admin/exchange-rates/new/?currency=<b>&valid_from=2026-02-31")
    assert bad.status_code == 200 and "&lt;b&gt;" not in bad.get_data(as_text=True)


def new_rate(browser: Browser, **fields: str):
    data = {"currency": "EUR", "rate": "1.0825", "valid_from": "2026-01-01", **fields}
    return browser.post("/admin/exchange-rates/new/", data)


def test_an_admin_adds_a_rate_and_the_audit_trail_records_it(browser: Browser, users):
    browser.login_as(users[ADMIN])
    assert new_rate(browser).status_code == 302
    rate = db.session.scalar(db.select(ExchangeRate).where(ExchangeRate.currency == "EUR"))
    assert (rate.rate, rate.valid_from) == (Decimal("1.0825"), date(2026, 1, 1))
    logged = db.session.execute(
        db.text(
            "SELECT user_id, new_values ->> 'currency' FROM audit_logs "
            "WHERE table_name = 'exchange_rates' AND action = 'INSERT' AND record_id = :id"
        ).bindparams(id=rate.id)
    ).one()
    assert logged == (users[ADMIN].id, "EUR")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"currency": "USD"}, "USD is the base currency: its rate is always 1."),
        ({"currency": "EU"}, "Use a three-letter currency code such as USD or EUR."),
        ({"rate": "0"}, "A rate is a number above zero, such as 1.0825."),
        ({"rate": "-2"}, "A rate is a number above zero, such as 1.0825."),
        ({"rate": "1.123456789"}, "At most ten digits before the point and eight after it."),
        ({"rate": "lots"}, "Not a valid decimal value."),
        ({"valid_from": "2026-02-31"}, "Enter a date as YYYY-MM-DD, for example 2026-12-31."),
    ],
)
def test_a_bad_rate_is_refused_with_a_message_and_nothing_saved(
    browser: Browser, users, fields, message
):
    browser.login_as(users[ADMIN])
    response = new_rate(browser, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html
    typed = next(iter(fields.values()))
    assert f'value="{typed}"' in html  # what they typed is kept
    assert db.session.scalar(db.select(db.func.count()).select_from(ExchangeRate)) == 0


def test_a_second_rate_for_the_same_day_says_which_one_to_edit(browser: Browser, users):
    browser.login_as(users[ADMIN])
    assert new_rate(browser).status_code == 302
    again = new_rate(browser, rate="1.5").get_data(as_text=True)
    assert "There is already a EUR rate from 2026-01-01: edit that one" in again
    rates = db.session.scalars(db.select(ExchangeRate.rate)).all()
    assert rates == [Decimal("1.0825")]


def test_a_base_currency_that_is_not_a_code_stops_the_app_with_a_message():
    from crm import check_required_settings
    from crm.db.server import StartupError

    with pytest.raises(StartupError, match="BASE_CURRENCY='dollars' is not a currency code"):
        check_required_settings({"BASE_CURRENCY": "dollars"})


def test_a_lead_without_a_creation_date_or_a_currency_breaks_nothing(
    browser: Browser, users, world, stages, db_connection
):
    """The spec's created_at and currency are nullable: such leads are counted, and
    their amounts listed as having no rate (no date, no currency), never a 500."""
    db_connection.execute(
        db.text(
            "INSERT INTO leads (title, stage_id, currency, amount, created_at) VALUES "
            "('No date', :s, 'EUR', 70, NULL), ('No currency', :s, NULL, 30, TIMESTAMP "
            "'2026-03-10 12:00')"
        ).bindparams(s=stages["New"])
    )
    funnel = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters())
    assert amounts(funnel)["New"] == (5, Decimal("320.00"), 3)
    unrated = funnel.rates.unrated
    assert (unrated["EUR"].leads, unrated["EUR"].earliest) == (1, None)
    assert (unrated[""].leads, unrated[""].amount) == (1, Decimal(30))
    browser.login_as(users[ADMIN])
    for page in ("/admin/pipeline/", "/admin/pipeline/board", "/admin/"):
        response = browser.get(page)
        assert response.status_code == 200, page
    missing = browser.get("/admin/pipeline/").get_data(as_text=True).split('id="rates-missing"')[1]
    assert "No currency: 1 lead" in missing and "give these leads a currency" in missing
    assert "add a EUR rate</a>" in missing  # no day to name for the undated one


def test_a_currency_code_in_lower_case_converts_like_its_upper_case(users, world, stages):
    factories.lead(
        title="Lower", stage_id=stages["New"], currency="eur", amount=100,
        created_at=datetime(2026, 3, 10, 12),
    )  # fmt: skip
    funnel = pipeline.funnel(db.session, users[MANAGER], pipeline.Filters())
    assert amounts(funnel)["New"] == (4, Decimal("430.00"), 1)  # + 100 × 1.10


def test_a_date_beyond_the_calendar_is_a_message_not_a_crash(browser: Browser, users, world):
    browser.login_as(users[MANAGER])
    for args in ("created_to=9999-12-31", "created_from=9999-12-15", "close_to=0001-01-01"):
        for page in ("/admin/pipeline/", "/admin/pipeline/board"):
            response = browser.get(f"{page}?{args}")
            assert response.status_code == 200, (page, args)
            assert "Use a date between 1900 and 9998." in response.get_data(as_text=True)
