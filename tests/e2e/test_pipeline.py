"""In Chromium: the funnel renders with its stage names, and a filter changes the numbers."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm.extensions import db
from crm.models import Customer, Lead, LeadStage, User

pytestmark = pytest.mark.own_database


def add_leads(app: Flask) -> None:
    with app.app_context():
        stage = {s.name: s.id for s in db.session.scalars(select(LeadStage))}
        customer = db.session.scalars(select(Customer)).first()
        owner = db.session.scalar(select(User).where(User.email == "manager@crm.com"))
        for title, stage_name, currency in (
            ("Dollar one", "New", "USD"),
            ("Dollar two", "New", "USD"),
            ("Euro one", "Qualified", "EUR"),
        ):
            db.session.add(
                Lead(title=title, stage_id=stage[stage_name], currency=currency, amount=1000,
                     probability=50, customer_id=customer.id, owner_id=owner.id)
            )  # fmt: skip
        db.session.commit()


def test_the_funnel_renders_and_follows_its_filters(page: Page, live_server: str, live_app):
    add_leads(live_app)
    base = live_server
    page.goto(f"{base}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "manager123")
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/pipeline/")
    chart = page.locator("#funnel-chart svg.main-svg").first
    expect(chart).to_be_visible()
    expect(page.locator("#funnel-chart")).to_contain_text("Negotiation")  # a stage name, drawn
    new_row = page.locator("#funnel-table tr", has_text="New")
    expect(new_row.locator("td").first).to_have_text("2")
    # Every currency by default: the EUR lead counted, converted at the seed's rate.
    expect(page.locator("#funnel-table tr", has_text="Qualified").locator("td").first).to_have_text(
        "1"
    )
    expect(page.locator("#rates-used")).to_contain_text("EUR: 1 rate, latest 1.08 from 2020-01-01")
    page.screenshot(path="/tmp/funnel.png", full_page=True)

    page.select_option("#currency", "EUR")
    page.click("button[type=submit]:has-text('Apply')")
    expect(page.locator("#funnel-table tr", has_text="New").locator("td").first).to_have_text("0")
    qualified = page.locator("#funnel-table tr", has_text="Qualified")
    expect(qualified.locator("td").first).to_have_text("1")
    expect(page.locator("#pipeline-summary")).to_contain_text("Leads in EUR only")


def test_dragging_a_card_moves_the_lead_and_the_audit_log_shows_it(
    page: Page, live_server: str, live_app
):
    base = live_server
    with live_app.app_context():
        if not db.session.scalar(select(Lead).where(Lead.title == "Dollar one")):
            add_leads(live_app)
        lead_id = db.session.scalar(select(Lead.id).where(Lead.title == "Dollar one"))
    page.goto(f"{base}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "manager123")
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/pipeline/board")
    card = page.locator(f'.board-card[data-lead="{lead_id}"]')
    target = page.locator('.board-column[aria-label="Proposal"] .board-cards')
    with page.expect_navigation():  # the board reloads after the move
        card.drag_to(target)
    expect(page.locator('.board-column[aria-label="Proposal"]')).to_contain_text("Dollar one")
    page.screenshot(path="/tmp/board-after.png", full_page=False)

    page.goto(f"{base}/admin/audit/history/?table=leads&id={lead_id}")
    latest = page.locator(".audit-entry").first
    expect(latest).to_contain_text("UPDATE")
    expect(latest).to_contain_text("by Sales Manager")
    # Fields and stages by name ("Stage: Contacted → Proposal"), the raw ids on hover.
    expect(latest.locator('th[title="stage_id"]')).to_have_text("Stage")
    expect(latest.locator("td.audit-new")).to_have_text("Proposal")


def test_a_column_loads_more_cards_on_request(page: Page, live_server: str, live_app):
    with live_app.app_context():
        stage = db.session.scalar(select(LeadStage.id).where(LeadStage.name == "Contacted"))
        for n in range(1, 31):
            db.session.add(Lead(title=f"Bulk {n:02}", stage_id=stage, currency="USD"))
        db.session.commit()
    page.goto(f"{live_server}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "manager123")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/admin/pipeline/board")
    column = page.locator('.board-column[aria-label="Contacted"]')
    expect(column.locator(".board-card")).to_have_count(20)
    column.locator("button.board-more").click()
    expect(column.locator(".board-card")).to_have_count(30)
    expect(column.locator("button.board-more")).to_have_count(0)
    page.screenshot(path="/tmp/board-more.png", full_page=False)
    # A card that came later moves like the others (its selector, then Move).
    late = column.locator(".board-card").nth(25)
    title = late.locator("a").inner_text()
    late.locator("select").select_option(label="Proposal")
    with page.expect_navigation():
        late.locator("button", has_text="Move").click()
    expect(page.locator('.board-column[aria-label="Proposal"]')).to_contain_text(title)


def boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return [box for box in (el.bounding_box() for el in page.query_selector_all(selector)) if box]


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("width", [1400, 390])
def test_every_stage_name_and_title_is_whole_on_a_wide_screen_and_a_phone(
    page: Page, live_server: str, live_app, width: int
):
    """Issue 17: the stage names were cut to "w", "ed"; at 390 px the two titles ran
    into each other and "Closed Lost" off the chart."""
    add_leads(live_app)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "manager123")
    page.click("button[type=submit]")
    for measure in ("count", "weighted"):
        page.goto(f"{live_server}/admin/pipeline/?measure={measure}")
        expect(page.locator("#funnel-chart svg.main-svg").first).to_be_visible()
        chart = page.locator("#funnel-chart").bounding_box()
        assert chart is not None
        names = [el.text_content() for el in page.query_selector_all("#funnel-chart .ytick text")]
        assert {"New", "Negotiation", "Closed Won"} <= set(names)
        titles = boxes(page, "#funnel-chart .annotation-text")
        labels = boxes(page, "#funnel-chart .ytick text") + titles
        assert len(titles) == 2
        for box in labels:  # inside the chart, left and right
            assert chart["x"] <= box["x"] and box["x"] + box["width"] <= chart["x"] + chart["width"]
        assert not overlap(*titles), titles
    # The cohort heatmap: every stage's name whole and inside the chart, at both widths.
    page.goto(f"{live_server}/admin/pipeline/")
    expect(page.locator("#cohort-chart svg.main-svg").first).to_be_visible()
    cohorts = page.locator("#cohort-chart").bounding_box()
    assert cohorts is not None
    stage_names = boxes(page, "#cohort-chart .xtick text")
    names = [el.text_content() for el in page.query_selector_all("#cohort-chart .xtick text")]
    assert {"New", "Negotiation", "Closed Won"} <= set(names)
    for box in stage_names:
        assert (
            cohorts["x"] <= box["x"] and box["x"] + box["width"] <= cohorts["x"] + cohorts["width"]
        )
        assert (
            cohorts["y"] <= box["y"]
            and box["y"] + box["height"] <= cohorts["y"] + cohorts["height"]
        )
