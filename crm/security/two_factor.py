"""Two-factor sign-in rules: who must use it, and the state between password and code.

After a right password, a user with two-factor on is not signed in: the cookie
holds only which account is waiting for a code, for ``CODE_STEP_MINUTES``. A
user whose role is in ``REQUIRE_2FA_FOR`` and who has not set it up is signed
in, but every page sends them to the set-up page until they have.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from crm.models import User

CODE_STEP_MINUTES = 5
PENDING = "pending_2fa"
# What a person who must set up two-factor may still open: the set-up page itself.
ENROL_ENDPOINTS = frozenset(
    {"two_factor.index", "auth.logout", "auth.logout_page", "static", "admin.static"}
)


def roles_named(setting: str | Iterable[str] | None) -> list[str]:
    """The roles a REQUIRE_2FA_FOR setting names (a comma-separated string or a list)."""
    if not setting:
        return []
    items = setting.split(",") if isinstance(setting, str) else setting
    return [r.strip().lower() for r in items if r.strip()]


def required(user: User) -> bool:
    """Whether ``user``'s role must sign in with two-factor."""
    return user.effective_role.value in roles_named(current_app.config["REQUIRE_2FA_FOR"])


def enrol_first() -> Response | None:
    """Before a page: send a user who must set up two-factor to the set-up page."""
    user: User = current_user._get_current_object()
    if user.two_factor or request.endpoint in ENROL_ENDPOINTS or not required(user):
        return None
    flash(
        "Your role signs in with two-factor. Set it up now to continue: it takes a minute "
        "with an authenticator app on your phone.",
        "warning",
    )
    return redirect(url_for("two_factor.index"))


def _token_mark(user: User) -> str:
    """A short digest of the user's session token: a new password voids the wait."""
    return hashlib.sha256(user.session_token.encode()).hexdigest()[:16]


def begin_code_step(user: User, next_path: str | None) -> None:
    """The password was right: remember whose code the next form asks for."""
    session.clear()
    session[PENDING] = {
        "user": user.id,
        "at": time.time(),
        "next": next_path or "",
        "mark": _token_mark(user),
    }


def still_valid(waiting: dict[str, Any], user: User) -> bool:
    """Whether the password that began the wait is still the user's (no reset since)."""
    return waiting.get("mark") == _token_mark(user)


def pending() -> dict[str, Any] | None:
    """The account waiting for its code, if it is still within the time allowed."""
    waiting = session.get(PENDING)
    if not isinstance(waiting, dict) or not isinstance(waiting.get("user"), int):
        return None
    if time.time() - float(waiting.get("at", 0)) > CODE_STEP_MINUTES * 60:
        session.pop(PENDING, None)
        return None
    return waiting
