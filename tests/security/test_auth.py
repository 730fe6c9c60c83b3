"""Signing in and out, sessions, lockout, throttling, redirects, CSRF, headers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from config import ProductionConfig
from crm import PROJECT_ROOT, create_app
from crm.extensions import db
from crm.models import Customer, User, UserRole, UserSession
from crm.security.auth import SIGN_IN_FAILED, utcnow
from crm.security.protections import limiter
from tests import factories
from tests.helpers import PASSWORDS, Browser, csrf_token_from

REP = UserRole.USER


def test_signed_out_visitor_lands_on_login_and_returns_after(browser: Browser, users):
    response = browser.get("/admin/customers/?sort=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/customers/?sort%3D1"
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/admin/customers/?sort=1"' in page

    signed_in = browser.login(
        users[REP].email, PASSWORDS[REP], next_path="/admin/customers/?sort=1"
    )
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/admin/customers/?sort=1"
    assert browser.get("/admin/customers/?sort=1").status_code == 200


@pytest.mark.parametrize(
    "target",
    ["//evil.com", "/\\evil.com", "////evil.com", "https://evil.com", "javascript:alert(1)",
     "http:/evil.com", "\t//evil.com", " //evil.com"],
)  # fmt: skip
def test_open_redirect_payloads_land_on_admin_home(browser: Browser, users, target: str):
    response = browser.login(users[REP].email, PASSWORDS[REP], next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@example.com", "whatever-pass"),  # no such account
        ("user@example.com", "wrong-password"),  # wrong password
    ],
)
def test_failed_sign_in_says_the_same_whatever_the_reason(browser: Browser, users, email, password):
    response = browser.login(email, password)
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert SIGN_IN_FAILED in page
    assert f'value="{email}"' in page  # what they typed is kept...
    assert password not in page  # ...but never the password
    assert browser.get("/admin/").status_code == 302


def test_inactive_user_cannot_sign_in_and_gets_the_same_message(browser: Browser, users):
    users[REP].is_active = False
    db.session.flush()
    response = browser.login(users[REP].email, PASSWORDS[REP])
    assert response.status_code == 401
    assert SIGN_IN_FAILED in response.get_data(as_text=True)


def test_sign_in_sets_last_login_and_clears_failures(browser: Browser, users):
    browser.login(users[REP].email, "wrong-password")
    db.session.refresh(users[REP])
    assert users[REP].failed_login_count == 1
    assert users[REP].last_login is None
    browser.login_as(users[REP])
    db.session.refresh(users[REP])
    assert users[REP].failed_login_count == 0
    assert abs(users[REP].last_login - utcnow()) < timedelta(minutes=1)


def test_email_is_matched_without_regard_to_case(browser: Browser, users):
    response = browser.login("  USER@Example.com ", PASSWORDS[REP])
    assert response.status_code == 302


def test_password_over_72_bytes_gets_a_clear_message(browser: Browser, users):
    response = browser.login(users[REP].email, "ü" * 40)
    assert response.status_code == 400
    assert "at most 72 bytes" in response.get_data(as_text=True)
    db.session.refresh(users[REP])
    assert users[REP].failed_login_count == 0


def test_empty_form_asks_for_email_and_password(browser: Browser):
    response = browser.login("", "")
    assert response.status_code == 400
    assert "Enter your email and password." in response.get_data(as_text=True)


def fail(browser: Browser, user: User, times: int) -> None:
    for _ in range(times):
        assert browser.login(user.email, "wrong-password").status_code == 401


def test_ten_failures_lock_the_account_for_15_minutes_then_it_opens(browser: Browser, users):
    rep = users[REP]
    fail(browser, rep, 10)
    db.session.refresh(rep)
    assert rep.locked_until is not None
    assert timedelta(minutes=14) < rep.locked_until - utcnow() <= timedelta(minutes=15)

    locked = browser.login(rep.email, PASSWORDS[REP])  # the right password, but locked
    assert locked.status_code == 401
    assert SIGN_IN_FAILED in locked.get_data(as_text=True)

    rep.locked_until = utcnow() - timedelta(seconds=1)  # the 15 minutes pass
    db.session.flush()
    assert browser.login(rep.email, PASSWORDS[REP]).status_code == 302


def test_repeated_lockouts_double_and_success_resets(browser: Browser, users):
    rep = users[REP]
    lengths = []
    for _ in range(3):
        fail(browser, rep, 10)
        limiter.reset()  # the per-minute throttle is tested on its own
        db.session.refresh(rep)
        lengths.append(rep.locked_until - utcnow())
        rep.locked_until = utcnow() - timedelta(seconds=1)
        db.session.flush()
    minutes = [round(length.total_seconds() / 60) for length in lengths]
    assert minutes == [15, 30, 60]

    browser.login_as(rep)
    db.session.refresh(rep)
    assert (rep.lockout_count, rep.failed_login_count, rep.locked_until) == (0, 0, None)


def test_per_account_throttle_answers_429_with_a_message(browser: Browser, users):
    for _ in range(12):
        browser.login("someone@example.com", "wrong-password")
    response = browser.login("someone@example.com", "wrong-password")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many sign-in attempts" in page
    assert 'value="someone@example.com"' in page
    # another account from the same address is not blocked by that limit
    assert browser.login(users[REP].email, PASSWORDS[REP]).status_code == 302


def test_per_ip_throttle_answers_429(app: Flask, browser: Browser, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_IP", "5 per minute")
    statuses = [browser.login(f"n{i}@example.com", "wrong-password").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]


def test_fresh_session_at_sign_in(browser: Browser, users):
    with browser.client.session_transaction() as session:
        session["planted"] = "by an attacker"
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        assert "planted" not in session


def test_get_logout_changes_nothing_and_post_needs_csrf(browser: Browser, users):
    browser.login_as(users[REP])
    assert browser.get("/logout").status_code == 200
    assert browser.get("/admin/").status_code == 200
    refused = browser.post("/logout", csrf=False)
    assert refused.status_code == 400
    assert "That request was refused" in refused.get_data(as_text=True)  # not the sign-in page
    assert browser.get("/admin/").status_code == 200


def test_sign_out_ends_the_session_for_real(browser: Browser, users, make_browser):
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        stolen = dict(session)
    response = browser.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert browser.get("/admin/").status_code == 302

    replay = make_browser()
    with replay.client.session_transaction() as session:
        session.update(stolen)  # the cookie copied before sign-out
    assert replay.get("/admin/").status_code == 302


def test_password_change_ends_other_sessions_but_not_this_one(browser, make_browser, users):
    other = make_browser()
    other.login_as(users[REP])
    browser.login_as(users[REP])
    response = browser.post(
        "/admin/profile/",
        {
            "password-current": PASSWORDS[REP],
            "password-new": "a brand new password",
            "password-confirm": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert browser.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302


def test_deactivation_ends_all_sessions(browser: Browser, users, make_browser):
    browser.login_as(users[REP])
    db.session.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": users[REP].id}
    )
    assert browser.get("/admin/").status_code == 302
    db.session.execute(
        text("UPDATE users SET is_active = true WHERE id = :id"), {"id": users[REP].id}
    )
    assert browser.get("/admin/").status_code == 302  # reactivating does not revive it


def test_idle_timeout_signs_out_with_a_message(browser: Browser, users):
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        session["seen_at"] -= 31 * 60
    response = browser.get("/admin/leads/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/leads/"
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page


def test_absolute_lifetime_signs_out(browser: Browser, users):
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        session["auth_at"] -= 12 * 3600 + 1
    assert browser.get("/admin/").status_code == 302


def test_activity_keeps_the_session_alive(browser: Browser, users):
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        session["seen_at"] -= 29 * 60
    assert browser.get("/admin/").status_code == 200
    with browser.client.session_transaction() as session:
        assert datetime.now().timestamp() - session["seen_at"] < 5


def test_login_without_csrf_token_is_refused(browser: Browser, users):
    response = browser.client.post(
        "/login", data={"email": users[REP].email, "password": PASSWORDS[REP]}
    )
    assert response.status_code == 400
    assert "Please sign in again" in response.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302


def test_cookie_flags(browser: Browser, users):
    response = browser.login_as(users[REP])
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("crm_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on plain HTTP


def test_security_headers_and_csp_nonce(browser: Browser, users):
    browser.login_as(users[REP])
    response = browser.get("/admin/customers/")
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "default-src 'self'",
    ):
        assert directive in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    page = response.get_data(as_text=True)
    scripts = page.count("<script")
    assert scripts > 3
    assert page.count(f'nonce="{nonce}"') >= scripts
    assert " onclick=" not in page  # inline handlers would be blocked by the policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers
    assert browser.get("/admin/").headers["Content-Security-Policy"] != csp  # a new nonce


def test_signed_in_pages_and_exports_are_never_cached_but_assets_are(browser: Browser, users):
    """A shared cache or the back button must not show one person's data to the next."""
    from crm.web.pages import PLOTLY_JS_URL

    browser.login_as(users[REP])
    for url in ("/admin/", "/admin/customers/", "/admin/customers/export/csv/",
                "/admin/search/?q=acme", "/admin/profile/"):  # fmt: skip
        response = browser.get(url)
        assert response.status_code == 200, url
        assert response.cache_control.no_store, (url, response.headers.get("Cache-Control"))
    asset = browser.get(PLOTLY_JS_URL)
    assert asset.cache_control.public and not asset.cache_control.no_store


def test_production_cookies_are_secure_and_hsts_is_sent(app: Flask, server_url):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    prod = create_app(
        ProductionConfig,
        {"SECRET_KEY": "x" * 32, "DATABASE_URL": uri, "SQLALCHEMY_DATABASE_URI": uri},
    )
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    client = prod.test_client()
    page = client.get("/login", base_url="https://crm.example.com")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Secure" in page.headers["Set-Cookie"]
    assert csrf_token_from(page.get_data(as_text=True))


def test_session_names_its_session_row_and_secret_only(browser: Browser, users):
    browser.login_as(users[REP])
    with browser.client.session_transaction() as session:
        stored = session["_user_id"]
    row_id, secret = stored.split(":")
    row = db.session.get(UserSession, int(row_id))
    assert row.user_id == users[REP].id
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest() != secret
    assert PASSWORDS[REP] not in str(stored)


# Each would change the customers table if the token were not checked.
CSRF_FREE_POSTS = [
    ("/admin/customers/new/", {"name": "No Token Co", "company": "X"}),
    (
        "/admin/customers/edit/?id={id}",
        {"name": "Renamed without token", "company": "X", "version": "1"},
    ),
    ("/admin/customers/delete/", {"id": "{id}"}),
    ("/admin/customers/action/", {"action": "delete", "rowid": "{id}", "confirmed": "yes"}),
]


@pytest.mark.parametrize(("url", "data"), CSRF_FREE_POSTS)
def test_admin_changes_without_csrf_token_are_refused(browser: Browser, users, url, data):
    admin = users[UserRole.ADMIN]
    customer = factories.customer(name="Kept", company="Kept Co", owner_id=admin.id)
    browser.login_as(admin)
    filled = {key: value.format(id=customer.id) for key, value in data.items()}
    response = browser.post(url.format(id=customer.id), filled, csrf=False)
    assert response.status_code == 400
    assert "Nothing was changed" in response.get_data(as_text=True)
    # Nothing was created, renamed or deleted: the customers table is as before.
    names = db.session.scalars(select(Customer.name).order_by(Customer.id)).all()
    assert names == ["Kept"]


LIMITER_PROBE = (
    "from app import app\n"
    "from crm.security.protections import limiter\n"
    "print(type(limiter.storage).__name__)"
)


@pytest.mark.own_database
@pytest.mark.parametrize(
    ("uri", "storage"), [("", "MemoryStorage"), ("redis://127.0.0.1:6399/0", "RedisStorage")]
)
def test_rate_limit_counters_go_to_redis_when_configured(uri: str, storage: str):
    result = subprocess.run(
        [sys.executable, "-c", LIMITER_PROBE],
        cwd=PROJECT_ROOT,
        env={**os.environ, "RATELIMIT_STORAGE_URI": uri},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == storage
