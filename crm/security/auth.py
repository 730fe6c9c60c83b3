"""Sign-in, sign-out and session checks (Flask-Login over signed cookie sessions)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from crm.api import signs_itself_in
from crm.api.errors import MESSAGES, is_api_request, json_error
from crm.audit import context as audit
from crm.extensions import db
from crm.models import User
from crm.security import passwords, sessions, two_factor
from crm.security.lockout import LockoutPolicy, is_locked, record_failure, record_success
from crm.security.protections import limiter
from crm.web.edge import local_path
from crm.web.forms import NUL_MESSAGE, Form

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

HOME = "/admin/"
# Reachable without signing in; everything else redirects to /login.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "second_step.code", "web.index", "web.healthz", "static", "admin.static"}
)
SIGN_IN_FAILED = (
    "Those details did not work. Check the email and password; after 10 failed "
    "attempts an account is locked for a while, and deactivated accounts cannot sign in."
)


class LoginForm(Form):
    """Email and password; ``next`` carries where the person was going."""

    email = StringField("Email", validators=[InputRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[InputRequired()])
    next = HiddenField()


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the admin home.

    Refuses scheme-relative (``//evil.com``), backslash, absolute and
    ``javascript:`` targets, and anything with control characters.
    """
    return local_path(target) or HOME


def utcnow() -> datetime:
    """Now, as the naive UTC the TIMESTAMP columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def lockout_policy() -> LockoutPolicy:
    """The configured lockout: shared by the password and the code steps."""
    config = current_app.config
    return LockoutPolicy(
        config["LOCKOUT_THRESHOLD"], config["LOCKOUT_MINUTES"], config["LOCKOUT_MAX_MINUTES"]
    )


def count_failure(user: User, action: str) -> None:
    """A failed step for ``user``: audited, counted, and the account locked at the threshold."""
    audit.record_sign_in(action, user.id)
    if record_failure(user, utcnow(), lockout_policy()):
        audit.record_sign_in("LOCKOUT", user.id)


def authenticate(email: str, password: str) -> User | None:
    """The user whose password this is, or None; counts failures and locks.

    Unknown emails, wrong passwords, locked and inactive accounts all return
    None after the same bcrypt work, so neither the answer nor its timing says
    which it was. A right password is not yet a sign-in: ``sign_in`` (after the
    code, with two-factor on) clears the failure count, so a stolen password
    does not reset the count of guessed codes.
    """
    now = utcnow()
    user = db.session.scalar(
        select(User).where(func.lower(User.email) == email.strip().lower()).with_for_update()
    )
    if user is None or not user.may_sign_in or is_locked(user, now):
        passwords.spend_comparable_time(password)
        audit.record_sign_in("LOGIN_FAILED", user.id if user else None)
        return None
    if not passwords.check_password(password, user.password_hash):
        count_failure(user, "LOGIN_FAILED")
        return None
    return user


def sign_in(user: User) -> None:
    """Every step passed: clear the counters, audit the sign-in, start a session."""
    record_success(user, utcnow())
    audit.record_sign_in("LOGIN", user.id, actor_id=user.id)
    start_session(user)


def render_login(error: str | None = None, status: int = 200) -> tuple[str, int]:
    """The sign-in page; what the person typed (but the password) stays in the form."""
    form = LoginForm(formdata=request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    return render_template("login.html", form=form, error=error), status


def ip_limit() -> str:
    """Sign-in attempts allowed per address (the password and the code steps)."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT_PER_IP"]
    return limit


def account_limit() -> str:
    """Sign-in attempts allowed per account."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT_PER_ACCOUNT"]
    return limit


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(ip_limit, methods=["POST"])
@limiter.limit(account_limit, methods=["POST"], key_func=_account_key)
def login() -> Response | tuple[str, int]:
    """Sign in; afterwards go back where the person was going."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        errors = [e for field in (form.email, form.password) for e in field.errors]
        missing = None
        if request.method == "POST":  # a NUL character says so (crm/web/forms.py); else a gap
            missing = NUL_MESSAGE if NUL_MESSAGE in errors else "Enter your email and password."
        return render_login(missing, 400 if missing else 200)
    email, password = form.email.data, form.password.data
    assert email is not None and password is not None  # both passed InputRequired
    if len(password.encode("utf-8")) > passwords.MAX_BYTES:
        return render_login(
            f"Passwords are at most {passwords.MAX_BYTES} bytes long; check what you typed.",
            400,
        )
    if current_user.is_authenticated:  # signing in again here: this browser's old session ends
        sessions.end(current_user.id, this_session_id())
    user = authenticate(email, password)
    if user is None:
        db.session.commit()  # the failure counters
        return render_login(SIGN_IN_FAILED, 401)
    if user.two_factor:
        db.session.rollback()  # nothing changed: the row lock goes
        two_factor.begin_code_step(user, form.next.data)
        return redirect(url_for("second_step.code"))
    sign_in(user)
    db.session.commit()
    return redirect(safe_next(form.next.data))


def start_session(user: User) -> None:
    """A fresh session for ``user`` (nothing carried over from before sign-in).

    Adds its ``user_sessions`` row; the caller commits.
    """
    session.clear()
    user.session_key = sessions.create(user)
    login_user(user)
    session.permanent = True
    now = time.time()
    session["auth_at"] = now
    session["seen_at"] = now


@bp.get("/logout")
def logout_page() -> str:
    """A confirmation page: signing out changes state, so it is a POST."""
    return render_template("logout.html")


@bp.post("/logout")
def logout() -> Response:
    """Sign out: this session ends (the profile ends the others)."""
    if current_user.is_authenticated:
        sessions.end(current_user.id, this_session_id())
        audit.record_sign_in("LOGOUT", current_user.id, actor_id=current_user.id)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def this_session_id() -> int:
    """The ``user_sessions`` row of the signed-in request."""
    key: str = current_user.session_key
    return int(key.partition(":")[0])


def load_user(session_key: str) -> User | None:
    """The user a session names, while its row exists and the user is active."""
    found = sessions.load(session_key)
    if found is None:
        return None
    user, _row = found
    user.session_key = session_key
    return user


# Registered by a call, not as a decorator: Flask-Login ships no types, and its
# decorator would hide load_user's signature from the type checker.
login_manager.user_loader(load_user)


def _login_redirect() -> Response:
    path = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=path))


def require_sign_in() -> Response | None:
    """Before every request: signed-out visitors go to /login; stale sessions end."""
    if request.endpoint in PUBLIC_ENDPOINTS or signs_itself_in():
        return None  # the API signs each request in by its token (crm/api/auth.py)
    if not current_user.is_authenticated:
        return _login_redirect()
    now = time.time()
    config = current_app.config
    idle = now - session.get("seen_at", 0) > config["SESSION_IDLE_MINUTES"] * 60
    too_old = now - session.get("auth_at", 0) > config["SESSION_ABSOLUTE_HOURS"] * 3600
    if idle or too_old:
        logout_user()
        session.clear()
        why = (
            f"after {config['SESSION_IDLE_MINUTES']} minutes without activity"
            if idle
            else f"{config['SESSION_ABSOLUTE_HOURS']} hours after signing in"
        )
        flash(f"You were signed out {why}. Sign in again to continue.", "info")
        return _login_redirect()
    if now - session.get("seen_at", 0) > 60:  # refresh the cookie at most once a minute
        session["seen_at"] = now
        sessions.seen(this_session_id())
        db.session.commit()
    return two_factor.enrol_first()


def _too_many_attempts(error: Exception) -> Response | tuple[str, int]:
    if is_api_request():
        return json_error(429, MESSAGES[429])
    if request.endpoint == "auth.login":
        return render_login(
            "Too many sign-in attempts from here or for this account. "
            "Wait a minute, then try again.",
            429,
        )
    return render_template("errors/429.html"), 429


@bp.errorhandler(CSRFError)
def _expired_form(error: CSRFError) -> tuple[str, int]:
    """A sign-in form without a valid token: the sign-in page says so, above the form.

    Any other form of these pages (sign-out) gets the app's plain refusal page.
    """
    if request.endpoint != "auth.login":
        return render_template("errors/400.html", reason=error.description), 400
    return render_login(
        "This sign-in form has expired or did not come from this site. Please sign in again.",
        400,
    )


def init_app(app: Flask) -> None:
    """Flask-Login, the sign-in pages and the signed-in-everywhere rule."""
    login_manager.init_app(app)
    login_manager.session_protection = None  # the session token does this job
    app.permanent_session_lifetime = app.config["SESSION_ABSOLUTE_HOURS"] * 3600
    app.register_blueprint(bp)
    app.before_request(require_sign_in)
    app.register_error_handler(429, _too_many_attempts)
