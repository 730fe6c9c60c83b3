"""Bulk actions: a confirmation page first, then the change; stages deactivate when in use."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Customer, Lead, LeadStage, Task, TaskStatus, UserRole
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER


def act(browser: Browser, endpoint: str, action: str, ids: list[int], **extra: str):
    return browser.post(f"/admin/{endpoint}/action/", {"action": action, "rowid": ids, **extra})


def test_reassign_shows_a_confirmation_then_moves_the_customers(browser: Browser, users):
    manager, rep = users[MANAGER], users[REP]
    customers = [factories.customer(owner_id=manager.id) for _ in range(3)]
    ids = [c.id for c in customers]
    browser.login_as(manager)

    page = act(browser, "customers", "reassign", ids)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Reassign owner: 3 selected" in html
    assert f'<option value="{rep.id}"' in html
    assert all(db.session.get(Customer, i).owner_id == manager.id for i in ids)  # not yet

    done = act(browser, "customers", "reassign", ids, confirmed="yes", owner_id=str(rep.id))
    assert done.status_code == 302
    assert all(db.session.get(Customer, i).owner_id == rep.id for i in ids)
    assert "3 customers now belong to" in browser.get("/admin/customers/").get_data(as_text=True)


def test_reassign_without_a_choice_asks_again_and_changes_nothing(browser: Browser, users):
    manager = users[MANAGER]
    customer = factories.customer(owner_id=manager.id)
    browser.login_as(manager)
    page = act(browser, "customers", "reassign", [customer.id], confirmed="yes", owner_id="99999")
    assert page.status_code == 200
    assert "Choose the new owner from the list." in page.get_data(as_text=True)
    assert db.session.get(Customer, customer.id).owner_id == manager.id


def test_reps_cannot_reassign(browser: Browser, users):
    rep = users[REP]
    customer = factories.customer(owner_id=rep.id)
    browser.login_as(rep)
    response = act(browser, "customers", "reassign", [customer.id], confirmed="yes",
                   owner_id=str(users[MANAGER].id))  # fmt: skip
    assert response.status_code == 403
    assert db.session.get(Customer, customer.id).owner_id == rep.id
    assert "Reassign owner" not in browser.get("/admin/customers/").get_data(as_text=True)


def test_move_leads_to_a_stage(browser: Browser, users):
    rep = users[REP]
    new, won = factories.stage(name="New"), factories.stage(name="Won it")
    leads = [factories.lead(owner_id=rep.id, stage_id=new.id) for _ in range(2)]
    browser.login_as(rep)
    assert "Move to stage: 2 selected" in act(
        browser, "leads", "move_stage", [lead.id for lead in leads]
    ).get_data(as_text=True)
    done = act(browser, "leads", "move_stage", [lead.id for lead in leads], confirmed="yes",
               stage_id=str(won.id))  # fmt: skip
    assert done.status_code == 302
    assert {db.session.get(Lead, lead.id).stage_id for lead in leads} == {won.id}


def test_mark_tasks_completed_sets_completed_at_once(browser: Browser, users):
    rep = users[REP]
    open_task = factories.task(user_id=rep.id, status=TaskStatus.PENDING)
    finished = factories.task(user_id=rep.id, status=TaskStatus.COMPLETED)
    browser.login_as(rep)
    done = act(browser, "tasks", "complete", [open_task.id, finished.id], confirmed="yes")
    assert done.status_code == 302
    db.session.refresh(open_task)
    db.session.refresh(finished)
    assert open_task.status is TaskStatus.COMPLETED and open_task.completed_at is not None
    assert finished.completed_at is None  # already completed: left as it was
    assert "1 tasks marked completed (1 already were)" in browser.get("/admin/tasks/").get_data(
        as_text=True
    )


def test_bulk_delete_confirms_first(browser: Browser, users):
    admin = users[ADMIN]
    ids = [factories.task(user_id=admin.id).id for _ in range(2)]
    browser.login_as(admin)
    page = act(browser, "tasks", "delete", ids)
    assert "Delete: 2 selected" in page.get_data(as_text=True)
    assert db.session.scalar(select(Task.id).where(Task.id == ids[0])) is not None
    act(browser, "tasks", "delete", ids, confirmed="yes")
    assert db.session.scalars(select(Task.id).where(Task.id.in_(ids))).all() == []


def test_bulk_action_without_csrf_changes_nothing(browser: Browser, users):
    admin = users[ADMIN]
    task = factories.task(user_id=admin.id)
    browser.login_as(admin)
    response = browser.post(
        "/admin/tasks/action/",
        {"action": "complete", "rowid": task.id, "confirmed": "yes"},
        csrf=False,
    )
    assert response.status_code == 400
    db.session.refresh(task)
    assert task.status is not TaskStatus.COMPLETED


def test_stage_in_use_is_deactivated_not_deleted(browser: Browser, users):
    admin = users[ADMIN]
    used, unused = factories.stage(name="Used"), factories.stage(name="Unused")
    unused_id = unused.id
    factories.lead(stage_id=used.id)
    browser.login_as(admin)
    browser.post("/admin/lead-stages/delete/", {"id": used.id})
    browser.post("/admin/lead-stages/delete/", {"id": unused.id})
    page = browser.get("/admin/lead-stages/").get_data(as_text=True)
    assert "has 1 leads, so it was deactivated rather than deleted" in page
    stage = db.session.get(LeadStage, used.id)
    assert stage is not None and stage.is_active is False
    assert db.session.scalar(select(LeadStage).where(LeadStage.id == unused_id)) is None


def test_an_unused_closed_stage_can_be_deleted(browser: Browser, users):
    """It answered 503: the index sync failed inside the delete (migration 0039)."""
    lost = factories.stage(name="Closed Lost", order_index=7)
    lost_id = lost.id
    browser.login_as(users[ADMIN])
    response = browser.post("/admin/lead-stages/delete/", {"id": lost_id})
    assert response.status_code == 302
    assert db.session.scalar(select(LeadStage).where(LeadStage.id == lost_id)) is None


@pytest.mark.parametrize(
    ("action", "expected"), [("move_up", ["B", "A", "C"]), ("move_down", ["A", "C", "B"])]
)
def test_stages_reorder(browser: Browser, users, action, expected):
    stages = {name: factories.stage(name=name, order_index=n) for n, name in enumerate("ABC", 1)}
    browser.login_as(users[ADMIN])
    assert act(browser, "lead-stages", action, [stages["B"].id]).status_code == 302
    ordered = db.session.scalars(select(LeadStage.name).order_by(LeadStage.order_index)).all()
    assert ordered == expected
    numbers = db.session.scalars(
        select(LeadStage.order_index).order_by(LeadStage.order_index)
    ).all()
    assert numbers == [1, 2, 3]
