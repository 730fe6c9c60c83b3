"""API tokens on the profile page and the admins' list (issue 20, part 3)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, text

from crm.api import tokens
from crm.extensions import db
from crm.models import UserRole
from tests.helpers import PASSWORDS, Browser

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT


def make(browser: Browser, role: UserRole = REP, **fields: str):
    data = {
        "token-name": "Billing sync", "token-scope": "write", "token-days": "7",
        "token-password": PASSWORDS[role], **fields,
    }  # fmt: skip
    return browser.post("/admin/profile/tokens", data=data)


def test_a_token_made_on_the_profile_is_shown_once_then_listed_by_its_prefix(
    browser: Browser, users, client
):
    browser.login_as(users[REP])
    made = make(browser)
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    secret = re.search(r'id="api-token-secret"[^>]*>(crm_[A-Za-z0-9_-]{43})<', page).group(1)
    assert "shown only this once" in page and "read and write" in page
    assert made.headers["Cache-Control"].startswith("no-store")
    profile = browser.get("/admin/profile/").get_data(as_text=True)
    assert secret not in profile and f"{secret[:12]}…" in profile
    assert "Billing sync" in profile and "Read and write" in profile and "never" in profile
    other = client.application.test_client()
    me = other.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.get_json()["token"]["scope"] == "write"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token-name": ""}, "Give the token a name."),
        ({"token-name": "x" * 101}, "Field cannot be longer than 100 characters."),
        ({"token-scope": "admin"}, "Not a valid choice"),
        ({"token-days": "9999"}, "Not a valid choice"),
        ({"token-days": "seven"}, "Not a valid choice"),
        ({"token-password": ""}, "Enter your password: the token will act as you."),
        ({"token-password": "not-it"}, "That is not your password."),
    ],
)
def test_a_bad_token_request_keeps_what_was_typed_says_why_and_saves_nothing(
    browser: Browser, users, db_connection: Connection, fields, message
):
    browser.login_as(users[REP])
    response = make(browser, **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert 'id="api-token-secret"' not in page
    if fields.get("token-name"):
        assert f'value="{fields["token-name"]}"' in page  # kept as typed
    assert db_connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0


def test_making_a_token_needs_a_csrf_token(browser: Browser, users, db_connection):
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/profile/tokens", data={"token-name": "x", "token-scope": "read"}, csrf=False
    )
    assert response.status_code == 400
    assert db_connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0


def test_a_person_revokes_their_own_token_and_never_someone_elses(
    browser: Browser, users, db_connection: Connection
):
    mine, _ = tokens.create(db.session, users[REP], "mine", "read", 30)
    theirs, _ = tokens.create(db.session, users[MANAGER], "theirs", "read", 30)
    db.session.commit()
    browser.login_as(users[REP])
    refused = browser.post(f"/admin/profile/tokens/{theirs.id}/revoke")
    assert refused.status_code == 302
    done = browser.post(f"/admin/profile/tokens/{mine.id}/revoke")
    assert done.status_code == 302 and done.headers["Location"].endswith("#api-tokens")
    revoked = dict(
        db_connection.execute(text("SELECT name, revoked_at IS NOT NULL FROM api_tokens")).all()
    )
    assert revoked == {"mine": True, "theirs": False}
    page = browser.get("/admin/profile/").get_data(as_text=True)
    assert "Revoked" in page and "theirs" not in page


def test_admins_list_everyones_tokens_and_revoke_any(
    browser: Browser, users, db_connection: Connection
):
    theirs, _ = tokens.create(db.session, users[REP], "rep's script", "write", 30)
    db.session.commit()
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/api-tokens/").get_data(as_text=True)
    assert "rep&#39;s script" in page and users[REP].email in page
    assert browser.post(f"/admin/api-tokens/{theirs.id}/revoke").status_code == 302
    who = db_connection.scalar(text("SELECT revoked_by FROM api_tokens"))
    assert who == users[ADMIN].id
    audited = db_connection.scalar(
        text(
            "SELECT new_values->>'revoked_by' FROM audit_logs "
            "WHERE table_name = 'api_tokens' AND action = 'UPDATE'"
        )
    )
    assert audited == str(users[ADMIN].id)


@pytest.mark.parametrize("role", [MANAGER, REP, SUPPORT])
def test_only_admins_see_everyones_tokens(browser: Browser, users, role):
    theirs, _ = tokens.create(db.session, users[ADMIN], "admin's", "write", 30)
    db.session.commit()
    browser.login_as(users[role])
    assert browser.get("/admin/api-tokens/").status_code == 403
    assert browser.post(f"/admin/api-tokens/{theirs.id}/revoke").status_code == 403
    assert db.session.get(type(theirs), theirs.id).revoked_at is None
