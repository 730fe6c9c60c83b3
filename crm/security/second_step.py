"""/login/code: the two-factor step after a right password.

Takes the current code from an authenticator app, or one recovery code. It has
the password step's throttling (per address and per account) and lockout (a
wrong code counts as a failed sign-in), and one generic message for every way
it can fail.
"""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from crm.audit import context as audit
from crm.extensions import db
from crm.models import User
from crm.security import account, two_factor
from crm.security.auth import (
    account_limit,
    count_failure,
    ip_limit,
    safe_next,
    sign_in,
    utcnow,
)
from crm.security.lockout import is_locked
from crm.security.protections import limiter
from crm.web.forms import Form

bp = Blueprint("second_step", __name__)
CODE_FAILED = (
    "That code did not work. Enter the 6-digit code your authenticator app shows now "
    "(each code works once), or one of your recovery codes; after 10 failed attempts "
    "the account is locked for a while."
)


class CodeForm(Form):
    """A two-factor code or a recovery code."""

    code = StringField(
        "Code",
        validators=[
            InputRequired(message="Enter the code."),
            Length(max=40, message="Codes are at most 40 characters: check what you typed."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True},
    )


def _account_key() -> str:
    waiting = two_factor.pending()
    return f"code:{waiting['user'] if waiting else 'none'}"


def _render(form: CodeForm, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("login_code.html", form=form, error=error), status


@bp.errorhandler(429)
def _too_many_codes(_error: Exception) -> tuple[str, int]:
    return _render(
        CodeForm(),
        "Too many codes tried from here or for this account. Wait a minute, then try again.",
        429,
    )


@bp.errorhandler(CSRFError)
def _expired_form(_error: CSRFError) -> tuple[str, int]:
    return _render(
        CodeForm(),
        "This form has expired or did not come from this site. Enter the code again.",
        400,
    )


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(ip_limit, methods=["POST"])
@limiter.limit(account_limit, methods=["POST"], key_func=_account_key)
def code() -> Response | tuple[str, int]:
    """Check the second factor; a right one signs the person in."""
    waiting = two_factor.pending()
    if waiting is None:
        flash("Sign in again: the time for the code ran out, or no sign-in was started.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        posted = request.method == "POST"
        problem = next(iter(form.code.errors), "Enter the code.") if posted else None
        return _render(form, problem, 400 if posted else 200)
    typed = form.code.data or ""
    user = db.session.scalar(select(User).where(User.id == waiting["user"]).with_for_update())
    if user is not None and not two_factor.still_valid(waiting, user):
        # A new password or a deactivation since the password step: this wait is void,
        # said with the one message every failure gets.
        db.session.rollback()
        session.pop(two_factor.PENDING, None)
        return _render(form, CODE_FAILED, 401)
    usable = user is not None and user.may_sign_in and not is_locked(user, utcnow())
    proof = account.prove(user, typed) if user is not None and usable and user.two_factor else None
    if user is None or proof is None or not proof.passed:
        if user is not None and usable:
            count_failure(user, "2FA_FAILED")
        else:
            audit.record_sign_in("2FA_FAILED", user.id if user else None)
        db.session.commit()
        return _render(form, CODE_FAILED, 401)
    next_path = str(waiting.get("next") or "")
    session.pop(two_factor.PENDING, None)
    sign_in(user)
    db.session.commit()
    remaining = proof.recovery_codes_left
    if remaining is not None:
        flash(
            f"You signed in with a recovery code; {remaining} of them left. "
            "Make new ones on your profile before they run out.",
            "warning" if remaining <= 3 else "info",
        )
    return redirect(safe_next(next_path))


def init_app(app: Flask) -> None:
    """The code step's page (public: it is reached before the sign-in completes)."""
    app.register_blueprint(bp)
