"""Two-factor sign-in over HTTP: set-up, the code step, replay, recovery codes, lockout,
enforcement by role, turning it off, and an admin's reset."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select, text

from crm import StartupError, create_app
from crm.extensions import db
from crm.models import AuditLog, RecoveryCode, User, UserRole
from crm.security import totp
from crm.security.second_step import CODE_FAILED
from tests.helpers import PASSWORDS, Browser, Clock

REP, ADMIN, MANAGER = UserRole.USER, UserRole.ADMIN, UserRole.MANAGER
SETUP = "/admin/profile/two-factor/"


def secret_on(page: str) -> str:
    found = re.search(r'id="two-factor-secret"[^>]*>([A-Z2-7 ]+)<', page)
    assert found, "no secret on the set-up page"
    return found.group(1).replace(" ", "")


def codes_on(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>", page)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(totp, "time", fake)
    return fake


def enrol(browser: Browser, user: User, clock: Clock) -> tuple[str, list[str]]:
    """Sign in and turn two-factor on; the secret and the recovery codes."""
    browser.login_as(user)
    secret = secret_on(browser.get(SETUP).get_data(as_text=True))
    done = browser.post(SETUP, {"setup-code": clock.code(secret)})
    codes = codes_on(done.get_data(as_text=True))
    assert len(codes) == 10
    browser.post("/logout")
    return secret, codes


def signed_in(browser: Browser, user: User, clock: Clock, secret: str) -> None:
    browser.login(user.email, PASSWORDS[user.effective_role])
    assert browser.post("/login/code", {"code": clock.code(secret)}).status_code == 302


def actions(user: User) -> list[str]:
    rows = db.session.scalars(
        select(AuditLog.action)
        .where(AuditLog.table_name == "users", AuditLog.record_id == user.id)
        .order_by(AuditLog.id)
    )
    return list(rows)


def test_setup_page_draws_the_qr_code_here_and_shows_the_secret(browser: Browser, users):
    browser.login_as(users[REP])
    page = browser.get(SETUP).get_data(as_text=True)
    assert "<svg" in page and "otpauth" not in page.split("<svg")[0]
    secret = secret_on(page)
    assert len(secret) == 32
    assert "http" not in page.split("<svg")[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    )  # no remote QR service: the image is inline SVG
    again = browser.get(SETUP).get_data(as_text=True)
    assert secret_on(again) == secret  # a reload keeps the secret the app may have scanned


def test_setup_needs_a_right_code_and_keeps_what_was_typed(browser: Browser, users):
    browser.login_as(users[REP])
    browser.get(SETUP)
    wrong = browser.post(SETUP, {"setup-code": "000000"})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 200
    assert "That code did not match" in body and 'value="000000"' in body
    db.session.refresh(users[REP])
    assert not users[REP].two_factor
    assert "2FA_ON" not in actions(users[REP])


def test_setup_stores_the_secret_encrypted_and_ten_hashed_codes(clock, browser: Browser, users):
    secret, codes = enrol(browser, users[REP], clock)
    user = db.session.get(User, users[REP].id)
    db.session.refresh(user)
    assert user.two_factor and user.totp_secret != secret and secret not in user.totp_secret
    assert totp.decrypt(user.totp_secret) == secret
    stored = db.session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
    ).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "2FA_ON", AuditLog.record_id == user.id)
    )
    assert row.new_values == {"recovery_codes": 10} and row.user_id == user.id
    leaked = db.session.scalar(
        text(
            "SELECT count(*) FROM audit_logs WHERE old_values ? 'totp_secret' "
            "OR new_values ? 'totp_secret' OR new_values::text LIKE :secret"
        ),
        {"secret": f"%{secret}%"},
    )
    assert leaked == 0


def test_sign_in_asks_for_the_code_after_the_password(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    response = browser.login(users[REP].email, PASSWORDS[REP], "/admin/leads/")
    assert response.headers["Location"] == "/login/code"
    assert browser.get("/admin/").status_code == 302  # not signed in yet
    page = browser.get("/login/code").get_data(as_text=True)
    assert "authenticator app" in page
    done = browser.post("/login/code", {"code": clock.code(secret)})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/leads/"
    assert browser.get("/admin/").status_code == 200
    assert actions(users[REP])[-1] == "LOGIN"


def test_a_wrong_code_gets_the_generic_message_and_counts(clock, browser: Browser, users):
    enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    refused = browser.post("/login/code", {"code": "123456"})
    assert refused.status_code == 401
    assert CODE_FAILED in refused.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302
    db.session.refresh(users[REP])
    assert users[REP].failed_login_count == 1
    assert actions(users[REP])[-1] == "2FA_FAILED"


def test_a_code_is_accepted_once(clock, browser: Browser, make_browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    code = clock.code(secret)
    browser.login(users[REP].email, PASSWORDS[REP])
    assert browser.post("/login/code", {"code": code}).status_code == 302
    thief = make_browser()
    thief.login(users[REP].email, PASSWORDS[REP])
    replay = thief.post("/login/code", {"code": code})
    assert replay.status_code == 401
    assert thief.get("/admin/").status_code == 302


def test_a_code_from_the_step_before_still_passes(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    clock.now += 90  # three steps on: the code of two steps on is the one before now
    before = pyotp.TOTP(secret).at(clock.now - 30)
    assert browser.post("/login/code", {"code": before}).status_code == 302


def test_drift_of_one_step_either_way_and_no_more():
    secret = pyotp.random_base32()
    now = 1_800_000_015.0
    step = int(now // 30)
    code = pyotp.TOTP(secret).generate_otp
    assert totp.matching_step(secret, code(step - 1), None, now) == step - 1
    assert totp.matching_step(secret, code(step + 1), None, now) == step + 1
    assert totp.matching_step(secret, code(step - 2), None, now) is None
    assert totp.matching_step(secret, code(step + 2), None, now) is None
    assert totp.matching_step(secret, code(step), step, now) is None  # used already
    assert totp.matching_step(secret, f"{code(step)[:3]} {code(step)[3:]}", None, now) == step


def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(
    clock, browser: Browser, make_browser, users
):
    _secret, codes = enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    done = browser.post("/login/code", {"code": codes[3].upper()})
    assert done.status_code == 302
    home = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "9 of them left" in home
    assert "RECOVERY_USED" in actions(users[REP])
    again = make_browser()
    again.login(users[REP].email, PASSWORDS[REP])
    assert again.post("/login/code", {"code": codes[3]}).status_code == 401


def test_ten_wrong_codes_lock_the_account(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    for n in range(10):
        assert browser.post("/login/code", {"code": f"{n:06d}"}).status_code == 401
    db.session.refresh(users[REP])
    assert users[REP].locked_until is not None
    assert "LOCKOUT" in actions(users[REP])
    locked = browser.post("/login/code", {"code": clock.code(secret)})
    assert locked.status_code == 401 and CODE_FAILED in locked.get_data(as_text=True)


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(clock, browser: Browser, users):
    enrol(browser, users[REP], clock)
    db.session.execute(
        text("UPDATE users SET failed_login_count = 7 WHERE id = :id"), {"id": users[REP].id}
    )
    browser.login(users[REP].email, PASSWORDS[REP])
    db.session.refresh(users[REP])
    assert users[REP].failed_login_count == 7


def test_the_code_step_expires(clock, browser: Browser, users):
    enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    with browser.client.session_transaction() as session:
        session["pending_2fa"] = {
            **session["pending_2fa"],
            "at": session["pending_2fa"]["at"] - 360,
        }
    response = browser.get("/login/code")
    assert response.headers["Location"] == "/login"
    assert "time for the code ran out" in browser.get("/login").get_data(as_text=True)


def test_an_empty_code_says_so(clock, browser: Browser, users):
    enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    response = browser.post("/login/code", {"code": ""})
    assert response.status_code == 400 and "Enter the code." in response.get_data(as_text=True)


def test_turning_it_off_needs_a_current_code(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    signed_in(browser, users[REP], clock, secret)
    refused = browser.post("/admin/profile/two-factor/off", {"off-code": "999999"})
    assert "That code did not work" in refused.get_data(as_text=True)
    db.session.refresh(users[REP])
    assert users[REP].two_factor
    done = browser.post("/admin/profile/two-factor/off", {"off-code": clock.code(secret)})
    assert done.status_code == 302
    db.session.refresh(users[REP])
    assert not users[REP].two_factor and users[REP].totp_secret is None
    assert (
        db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == users[REP].id))
        is None
    )
    assert actions(users[REP])[-1] == "2FA_OFF"


def test_new_recovery_codes_replace_the_old(clock, browser: Browser, make_browser, users):
    secret, old = enrol(browser, users[REP], clock)
    signed_in(browser, users[REP], clock, secret)
    page = browser.post("/admin/profile/recovery-codes", {"codes-code": clock.code(secret)})
    new = codes_on(page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert "RECOVERY_NEW" in actions(users[REP])
    other = make_browser()
    other.login(users[REP].email, PASSWORDS[REP])
    assert other.post("/login/code", {"code": old[0]}).status_code == 401
    assert other.post("/login/code", {"code": new[0]}).status_code == 302


@pytest.fixture
def admins_must_use_it(app: Flask, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_2FA_FOR", ("admin", "manager"))


@pytest.mark.usefixtures("admins_must_use_it")
def test_required_roles_set_it_up_before_any_other_page(clock, browser: Browser, users):
    browser.login_as(users[ADMIN])
    for url in ("/admin/", "/admin/customers/", "/admin/profile/"):
        response = browser.get(url)
        assert response.headers["Location"] == SETUP, url
    page = browser.get(SETUP).get_data(as_text=True)
    assert "Your role signs in with two-factor" in page
    browser.post(SETUP, {"setup-code": clock.code(secret_on(page))})
    assert browser.get("/admin/customers/").status_code == 200
    profile = browser.get("/admin/profile/").get_data(as_text=True)
    assert "cannot be turned off" in profile and "two-factor-off-form" not in profile


@pytest.mark.usefixtures("admins_must_use_it")
def test_roles_not_named_are_not_asked(browser: Browser, users):
    browser.login_as(users[REP])
    assert browser.get("/admin/customers/").status_code == 200


@pytest.mark.usefixtures("admins_must_use_it")
def test_a_required_role_cannot_turn_it_off(clock, browser: Browser, users):
    browser.login_as(users[MANAGER])
    secret = secret_on(browser.get(SETUP).get_data(as_text=True))
    browser.post(SETUP, {"setup-code": clock.code(secret)})
    refused = browser.post("/admin/profile/two-factor/off", {"off-code": clock.code(secret)})
    assert refused.status_code == 302
    db.session.refresh(users[MANAGER])
    assert users[MANAGER].two_factor


def test_an_admin_resets_a_users_two_factor_and_ends_their_sessions(
    clock, browser: Browser, make_browser, users
):
    rep_browser = make_browser()
    secret, _codes = enrol(rep_browser, users[REP], clock)
    signed_in(rep_browser, users[REP], clock, secret)
    assert rep_browser.get("/admin/").status_code == 200
    browser.login_as(users[ADMIN])
    data = {"action": "reset_two_factor", "rowid": str(users[REP].id), "confirmed": "yes"}
    assert browser.post("/admin/users/action/", data).status_code == 302
    db.session.refresh(users[REP])
    assert not users[REP].two_factor
    assert rep_browser.get("/admin/").status_code == 302
    row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "2FA_RESET", AuditLog.record_id == users[REP].id)
    )
    assert row.user_id == users[ADMIN].id and row.new_values == {"sessions_ended": 1}
    again = make_browser()
    assert again.login(users[REP].email, PASSWORDS[REP]).headers["Location"] == "/admin/"


def test_only_admins_reset_two_factor(browser: Browser, users):
    browser.login_as(users[MANAGER])
    data = {"action": "reset_two_factor", "rowid": str(users[REP].id), "confirmed": "yes"}
    assert browser.post("/admin/users/action/", data).status_code == 403


def test_a_role_that_is_not_one_stops_the_start(app: Flask):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(StartupError, match="REQUIRE_2FA_FOR names 'admins'"):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": uri, "REQUIRE_2FA_FOR": "admins,user"})


def test_guessing_codes_on_the_profile_locks_the_account_too(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    signed_in(browser, users[REP], clock, secret)
    for n in range(10):
        browser.post("/admin/profile/two-factor/off", {"off-code": f"{n:06d}"})
    db.session.refresh(users[REP])
    assert users[REP].locked_until is not None
    page = browser.post("/admin/profile/two-factor/off", {"off-code": clock.code(secret)})
    assert "Too many wrong codes" in page.get_data(as_text=True)
    db.session.refresh(users[REP])
    assert users[REP].two_factor


def test_the_code_step_is_throttled_per_account(clock, browser: Browser, users, app, monkeypatch):
    enrol(browser, users[REP], clock)
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_ACCOUNT", "3 per minute")
    browser.login(users[REP].email, PASSWORDS[REP])
    statuses = [browser.post("/login/code", {"code": f"{n:06d}"}).status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    page = browser.post("/login/code", {"code": "000000"}).get_data(as_text=True)
    assert "Too many codes tried" in page


def test_codes_in_other_scripts_digits_are_refused_not_a_500(clock, browser: Browser, users):
    enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    for typed in ("١٢٣٤٥٦", "１２３４５６", "x" * 41):
        response = browser.post("/login/code", {"code": typed})
        assert response.status_code in (400, 401), typed
    too_long = browser.post("/login/code", {"code": "9" * 41}).get_data(as_text=True)
    assert "Codes are at most 40 characters" in too_long


def test_the_set_up_page_refuses_other_digits_with_its_message(browser: Browser, users):
    browser.login_as(users[REP])
    browser.get(SETUP)
    response = browser.post(SETUP, {"setup-code": "١٢٣٤٥٦"})
    assert response.status_code == 200 and "That code did not match" in response.get_data(
        as_text=True
    )


def test_a_changed_password_voids_the_code_step(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    db.session.execute(
        text("UPDATE users SET password_hash = 'reset by an admin' WHERE id = :id"),
        {"id": users[REP].id},
    )
    response = browser.post("/login/code", {"code": clock.code(secret)})
    assert response.status_code == 401 and CODE_FAILED in response.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302
    assert browser.get("/login/code").headers["Location"] == "/login"  # the wait is over


def test_a_deactivated_account_gets_the_same_message_at_the_code_step(
    clock, browser: Browser, users
):
    secret, _codes = enrol(browser, users[REP], clock)
    browser.login(users[REP].email, PASSWORDS[REP])
    db.session.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": users[REP].id}
    )
    response = browser.post("/login/code", {"code": clock.code(secret)})
    assert response.status_code == 401 and CODE_FAILED in response.get_data(as_text=True)


def test_an_admin_cannot_reset_their_own_two_factor_from_the_list(clock, browser: Browser, users):
    secret, _codes = enrol(browser, users[ADMIN], clock)
    signed_in(browser, users[ADMIN], clock, secret)
    data = {"action": "reset_two_factor", "rowid": str(users[ADMIN].id), "confirmed": "yes"}
    browser.post("/admin/users/action/", data)
    db.session.refresh(users[ADMIN])
    assert users[ADMIN].two_factor
    assert "2FA_RESET" not in actions(users[ADMIN])


def test_a_recovery_code_used_on_the_profile_is_audited(clock, browser: Browser, users):
    secret, codes = enrol(browser, users[REP], clock)
    signed_in(browser, users[REP], clock, secret)
    browser.post("/admin/profile/two-factor/off", {"off-code": codes[0]})
    used = db.session.scalar(
        select(AuditLog).where(
            AuditLog.action == "RECOVERY_USED", AuditLog.record_id == users[REP].id
        )
    )
    assert used.new_values == {"recovery_codes_left": 9}
    assert actions(users[REP])[-2:] == ["RECOVERY_USED", "2FA_OFF"]


def test_a_second_submit_of_the_set_up_form_keeps_the_first_codes(clock, browser: Browser, users):
    browser.login_as(users[REP])
    secret = secret_on(browser.get(SETUP).get_data(as_text=True))
    code = clock.code(secret)
    first = codes_on(browser.post(SETUP, {"setup-code": code}).get_data(as_text=True))
    again = browser.post(SETUP, {"setup-code": code})
    assert again.status_code == 302
    browser.post("/logout")
    browser.login(users[REP].email, PASSWORDS[REP])
    assert browser.post("/login/code", {"code": first[0]}).status_code == 302


def test_the_audit_list_filters_the_new_events(clock, browser: Browser, users, make_browser):
    enrol(make_browser(), users[REP], clock)
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/audit/?flt0_action_equals=2FA_ON").get_data(as_text=True)
    cells = re.findall(r'<td class="col-action">\s*([A-Z0-9_]+)\s*</td>', page)
    assert cells == ["2FA_ON"]


def test_making_an_api_token_with_two_factor_on_needs_a_current_code(
    clock, browser: Browser, users, db_connection
):
    secret, _codes = enrol(browser, users[REP], clock)
    signed_in(browser, users[REP], clock, secret)
    data = {"token-name": "sync", "token-scope": "read", "token-days": "7",
            "token-password": PASSWORDS[REP], "token-code": "999999"}  # fmt: skip
    refused = browser.post("/admin/profile/tokens", data)
    assert "That code did not work" in refused.get_data(as_text=True)
    assert db_connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0
    made = browser.post("/admin/profile/tokens", {**data, "token-code": clock.code(secret)})
    assert 'id="api-token-secret"' in made.get_data(as_text=True)
