"""One record per signed-in browser: listed on the profile, ended one by one or all
at once, by the user or an admin, effective on the very next request."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from crm.extensions import db
from crm.models import AuditLog, UserRole, UserSession
from crm.security.sessions import utcnow
from tests.helpers import PASSWORDS, Browser

REP, ADMIN = UserRole.USER, UserRole.ADMIN
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def sessions_of(user_id: int) -> list[UserSession]:
    return list(
        db.session.scalars(
            select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.id)
        )
    )


def browser_with(make_browser, agent: str) -> Browser:
    other = make_browser()
    other.client.environ_base["HTTP_USER_AGENT"] = agent
    other.client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    return other


def test_each_sign_in_is_a_session_listed_on_the_profile(browser: Browser, make_browser, users):
    browser_with(make_browser, FIREFOX).login_as(users[REP])
    browser_with(make_browser, SAFARI).login_as(users[REP])
    browser.login_as(users[REP])
    page = browser.get("/admin/profile/").get_data(as_text=True)
    assert "Firefox on Windows" in page
    assert "Mobile Safari on iOS" in page
    assert "203.0.113.9" in page
    assert page.count("This session") == 1
    assert page.count('data-session="') == 3


def test_ending_a_session_signs_that_browser_out_on_its_next_request(
    browser: Browser, make_browser, users
):
    phone = browser_with(make_browser, SAFARI)
    phone.login_as(users[REP])
    browser.login_as(users[REP])
    phone_session = sessions_of(users[REP].id)[0].id
    response = browser.post(f"/admin/profile/sessions/{phone_session}/end")
    assert response.status_code == 302
    assert phone.get("/admin/").status_code == 302
    assert browser.get("/admin/").status_code == 200
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "SESSION_ENDED"))
    assert row.record_id == users[REP].id and row.user_id == users[REP].id
    assert row.new_values == {"session": phone_session, "ip": "203.0.113.9"}


def test_sign_out_everywhere_else_keeps_this_one(browser: Browser, make_browser, users):
    others = [make_browser(), make_browser()]
    for other in others:
        other.login_as(users[REP])
    browser.login_as(users[REP])
    browser.post("/admin/profile/sessions/end-others")
    assert [other.get("/admin/").status_code for other in others] == [302, 302]
    assert browser.get("/admin/").status_code == 200
    assert len(sessions_of(users[REP].id)) == 1


def test_nobody_ends_someone_elses_session(browser: Browser, make_browser, users):
    admin = make_browser()
    admin.login_as(users[ADMIN])
    browser.login_as(users[REP])
    theirs = sessions_of(users[ADMIN].id)[0]
    browser.post(f"/admin/profile/sessions/{theirs.id}/end")
    assert admin.get("/admin/").status_code == 200


def test_signing_out_ends_only_this_session(browser: Browser, make_browser, users):
    other = make_browser()
    other.login_as(users[REP])
    browser.login_as(users[REP])
    browser.post("/logout")
    assert other.get("/admin/").status_code == 200
    assert len(sessions_of(users[REP].id)) == 1


def test_an_admin_ends_every_session_of_a_user(browser: Browser, make_browser, users):
    rep = make_browser()
    rep.login_as(users[REP])
    browser.login_as(users[ADMIN])
    data = {"action": "end_sessions", "rowid": str(users[REP].id), "confirmed": "yes"}
    assert browser.post("/admin/users/action/", data).status_code == 302
    assert rep.get("/admin/").status_code == 302
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "SESSION_ENDED"))
    assert row.user_id == users[ADMIN].id and row.new_values == {"sessions_ended": 1}
    assert rep.login(users[REP].email, PASSWORDS[REP]).status_code == 302


def test_a_new_password_set_by_sql_ends_every_session(browser: Browser, users):
    browser.login_as(users[REP])
    db.session.execute(
        text("UPDATE users SET password_hash = 'changed elsewhere' WHERE id = :id"),
        {"id": users[REP].id},
    )
    assert sessions_of(users[REP].id) == []
    assert browser.get("/admin/").status_code == 302


def test_last_seen_moves_at_most_once_a_minute(browser: Browser, users):
    browser.login_as(users[REP])
    row = sessions_of(users[REP].id)[0]
    long_ago = utcnow() - timedelta(minutes=5)
    db.session.execute(
        text("UPDATE user_sessions SET last_seen_at = :t WHERE id = :id"),
        {"t": long_ago, "id": row.id},
    )
    browser.get("/admin/")
    db.session.expire_all()
    assert sessions_of(users[REP].id)[0].last_seen_at == long_ago  # the cookie says: just now
    with browser.client.session_transaction() as session:
        session["seen_at"] -= 120
    browser.get("/admin/")
    db.session.expire_all()
    assert sessions_of(users[REP].id)[0].last_seen_at > long_ago


def test_expired_sessions_leave_the_list(browser: Browser, make_browser, users):
    old = make_browser()
    old.login_as(users[REP])
    browser.login_as(users[REP])
    stale, mine = (row.id for row in sessions_of(users[REP].id))
    db.session.execute(
        text("UPDATE user_sessions SET last_seen_at = :t WHERE id = :id"),
        {"t": utcnow() - timedelta(hours=2), "id": stale},
    )
    page = browser.get("/admin/profile/").get_data(as_text=True)
    assert page.count('data-session="') == 1
    assert [row.id for row in sessions_of(users[REP].id)] == [mine]  # the stale row deleted


def test_this_session_is_ended_by_signing_out_not_from_the_list(browser: Browser, users):
    browser.login_as(users[REP])
    mine = sessions_of(users[REP].id)[0]
    assert browser.post(f"/admin/profile/sessions/{mine.id}/end").status_code == 400
    assert browser.get("/admin/").status_code == 200


def test_signing_in_again_in_the_same_browser_ends_its_old_session(browser: Browser, users):
    browser.login_as(users[REP])
    again = {"email": users[REP].email, "password": PASSWORDS[REP], "next": ""}
    assert browser.post("/login", again).status_code == 302  # a sign-in form left open
    assert len(sessions_of(users[REP].id)) == 1
    assert browser.get("/admin/").status_code == 200


def test_a_session_id_out_of_range_is_a_404(browser: Browser, users):
    browser.login_as(users[REP])
    response = browser.post("/admin/profile/sessions/99999999999999999999/end")
    assert response.status_code == 404


def test_a_password_change_records_the_sessions_it_ended(browser: Browser, make_browser, users):
    make_browser().login_as(users[REP])
    browser.login_as(users[REP])
    browser.post(
        "/admin/profile/",
        {
            "password-current": PASSWORDS[REP],
            "password-new": "a brand new password",
            "password-confirm": "a brand new password",
        },
    )
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "SESSION_ENDED"))
    assert row.new_values == {"sessions_ended": 1, "why": "password changed"}
