"""Admins manage users; everyone manages their own profile."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.models import User, UserRole
from crm.security.passwords import check_password
from tests import factories
from tests.helpers import PASSWORDS, Browser

ADMIN, REP = UserRole.ADMIN, UserRole.USER


@pytest.fixture
def admin_browser(browser: Browser, users) -> Browser:
    browser.login_as(users[ADMIN])
    return browser


def user_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "New Person",
        "email": "New.Person@Example.com",
        "role": "manager",
        "is_active": "y",
        "new_password": "a long password",
        "confirm_password": "a long password",
    }
    form.update(overrides)
    return form


def test_admin_creates_a_user_with_a_hashed_password(admin_browser: Browser):
    response = admin_browser.post("/admin/users/new/", user_form())
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user.role is UserRole.MANAGER
    assert user.password_hash.startswith("$2b$")
    assert check_password("a long password", user.password_hash)


def test_new_user_needs_a_password_and_keeps_what_was_typed(admin_browser: Browser):
    response = admin_browser.post(
        "/admin/users/new/", user_form(new_password="", confirm_password="")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Give the new user a password." in page
    assert 'value="New Person"' in page
    assert db.session.scalar(select(User).where(User.name == "New Person")) is None


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", "short", "at least 8 characters"),
        ("ü" * 40, "ü" * 40, "at most 72 bytes"),
        ("Password123", "Password123", "on a list of common passwords"),
        ("a long password", "another password", "The two passwords differ."),
    ],
)
def test_bad_new_passwords_are_explained(admin_browser: Browser, password, confirm, message):
    response = admin_browser.post(
        "/admin/users/new/", user_form(new_password=password, confirm_password=confirm)
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.name == "New Person")) is None


@pytest.mark.parametrize("email", ["a@example.com, b@evil.test", "no-at-sign", "x@y"])
def test_an_email_that_is_not_one_address_is_refused(admin_browser: Browser, email):
    response = admin_browser.post("/admin/users/new/", user_form(email=email))
    assert response.status_code == 200
    assert "Enter an email address like name@example.com." in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.name == "New Person")) is None


def test_duplicate_email_is_a_message_not_a_500(admin_browser: Browser, users):
    response = admin_browser.post("/admin/users/new/", user_form(email=users[REP].email))
    assert response.status_code == 200
    assert "Another user already has that email." in response.get_data(as_text=True)


def test_admin_changes_role_deactivates_and_resets_password(admin_browser, users, make_browser):
    rep = users[REP]
    rep_browser = make_browser()
    rep_browser.login_as(rep)
    form = user_form(
        name=rep.name, email=rep.email, role="support", is_active="",
        new_password="reset password 1", confirm_password="reset password 1",
    )  # fmt: skip
    form["version"] = str(rep.version)
    response = admin_browser.post(f"/admin/users/edit/?id={rep.id}", form)
    assert response.status_code == 302
    db.session.refresh(rep)
    assert (rep.role, rep.is_active) == (UserRole.SUPPORT, False)
    assert check_password("reset password 1", rep.password_hash)
    assert rep_browser.get("/admin/").status_code == 302  # their session ended


def test_editing_without_a_new_password_keeps_the_old_one(admin_browser, users):
    rep = users[REP]
    old_hash = rep.password_hash
    form = user_form(
        name="Renamed Rep", email=rep.email, role="user", new_password="", confirm_password=""
    )
    form["version"] = str(rep.version)
    assert admin_browser.post(f"/admin/users/edit/?id={rep.id}", form).status_code == 302
    db.session.refresh(rep)
    assert (rep.name, rep.password_hash) == ("Renamed Rep", old_hash)


@pytest.mark.parametrize("change", [{"role": "manager"}, {"is_active": ""}])
def test_last_active_admin_cannot_be_demoted_or_deactivated(admin_browser, users, change):
    admin = users[ADMIN]
    form = user_form(
        name=admin.name, email=admin.email, role="admin", new_password="", confirm_password=""
    )
    form.update(change, version=str(admin.version))
    response = admin_browser.post(f"/admin/users/edit/?id={admin.id}", form)
    assert response.status_code == 200
    assert "This is the last active admin" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert (admin.role, admin.is_active) == (UserRole.ADMIN, True)


def test_an_admin_can_be_demoted_when_another_remains(admin_browser, users):
    second = factories.user(role=UserRole.ADMIN)
    form = user_form(
        name=second.name, email=second.email, role="user", new_password="", confirm_password=""
    )
    form["version"] = str(second.version)
    assert admin_browser.post(f"/admin/users/edit/?id={second.id}", form).status_code == 302
    db.session.refresh(second)
    assert second.role is UserRole.USER


def test_database_refuses_removing_the_last_admin_by_raw_sql(db_connection, users):
    for statement in (
        "UPDATE users SET role = 'user' WHERE role = 'admin'",
        "UPDATE users SET is_active = false WHERE role = 'admin'",
        "DELETE FROM users WHERE role = 'admin'",
    ):
        savepoint = db_connection.begin_nested()
        with pytest.raises(IntegrityError, match="last active admin"):
            db_connection.execute(text(statement))
        savepoint.rollback()


@pytest.mark.parametrize(
    ("url", "shown"),
    [("/admin/users/", "{email}"), ("/admin/users/details/?id={id}", "{email}"),
     ("/admin/users/edit/?id={id}", 'value="{email}"'),
     ("/admin/users/new/", 'name="new_password"'), ("/admin/users/export/csv/", "{email}")],
)  # fmt: skip
def test_password_hash_is_never_shown(admin_browser: Browser, users, url, shown):
    rep = users[REP]
    response = admin_browser.get(url.format(id=rep.id))
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # the page itself, not a redirect to sign in
    assert shown.format(email=rep.email) in page  # with the rep on it (a form on new/)
    assert rep.password_hash not in page
    assert "$2b$" not in page
    assert "password_hash" not in page.lower().replace("password-hash", "")
    assert rep.session_token not in page


def test_profile_changes_own_name(browser: Browser, users):
    browser.login_as(users[REP])
    response = browser.post("/admin/profile/", {"profile-name": "  New Name  "})
    assert response.status_code == 302
    db.session.refresh(users[REP])
    assert users[REP].name == "New Name"


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("not my pass", "a long new pass", "a long new pass", "That is not your current password."),
        (PASSWORDS[REP], "short", "short", "at least 8 characters"),
        (PASSWORDS[REP], "ü" * 40, "ü" * 40, "at most 72 bytes"),
        (PASSWORDS[REP], "iloveyou2", "iloveyou2", "seen in data breaches"),
        (PASSWORDS[REP], "a long new password", "different", "The two new passwords differ."),
    ],
)  # fmt: skip
def test_profile_password_change_is_checked(
    browser: Browser, users, current, new, confirm, message
):
    browser.login_as(users[REP])
    old_hash = users[REP].password_hash
    response = browser.post(
        "/admin/profile/",
        {"password-current": current, "password-new": new, "password-confirm": confirm},
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.refresh(users[REP])
    assert users[REP].password_hash == old_hash


def test_profile_password_change_works_with_the_current_password(browser: Browser, users):
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/profile/",
        {
            "password-current": PASSWORDS[REP],
            "password-new": "a long new password",
            "password-confirm": "a long new password",
        },
    )
    assert response.status_code == 302
    db.session.refresh(users[REP])
    assert check_password("a long new password", users[REP].password_hash)
    assert users[REP].password_hash.startswith("$2b$04$")  # the configured cost (4 in tests)
