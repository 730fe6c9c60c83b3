"""Account security changes, each with its audit row (a service; the caller commits).

Two-factor on, off and reset; new recovery codes; sessions ended. The audit row's
``new_values`` say what happened (a session's browser, how many codes), never a
secret or a code.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user

from crm.audit import context as audit
from crm.extensions import db
from crm.models import User, UserSession
from crm.security import sessions, totp


def _actor() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def turn_on_two_factor(user: User, secret: str, step: int) -> list[str]:
    """Two-factor on for ``user``; the recovery codes to show once."""
    codes = totp.turn_on(user, secret, step)
    audit.record_sign_in("2FA_ON", user.id, _actor(), {"recovery_codes": len(codes)})
    return codes


def turn_off_two_factor(user: User) -> None:
    """Two-factor off for ``user`` (they proved a current code)."""
    totp.turn_off(user)
    audit.record_sign_in("2FA_OFF", user.id, _actor())


@dataclass(frozen=True)
class Proof:
    """Whether a typed code proved it is the user; recovery codes left if one was spent."""

    passed: bool
    recovery_codes_left: int | None = None


def prove(user: User, code: str) -> Proof:
    """Check ``code``: the current TOTP code, else an unused recovery code (spent, audited).

    The caller holds the user's row locked, so a code is accepted once.
    """
    if totp.check_code(user, code):
        return Proof(True)
    left = totp.use_recovery_code(user, code)
    if left is None:
        return Proof(False)
    audit.record_sign_in("RECOVERY_USED", user.id, user.id, {"recovery_codes_left": left})
    return Proof(True, left)


def new_recovery_codes(user: User) -> list[str]:
    """A new set of recovery codes for ``user``, replacing the old; to show once."""
    codes = totp.new_recovery_codes(user)
    audit.record_sign_in("RECOVERY_NEW", user.id, _actor(), {"recovery_codes": len(codes)})
    return codes


def reset_two_factor(user_id: int) -> bool:
    """An admin resets another user's two-factor (lost phone); their sessions end.

    Never one's own: turning your own off takes a current code (the profile's form).
    """
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None or user.totp_enabled_at is None or user.id == _actor():
        return False
    totp.turn_off(user)
    ended = sessions.end_all(user.id)
    audit.record_sign_in("2FA_RESET", user.id, _actor(), {"sessions_ended": ended})
    return True


def end_session(user: User, session_id: int) -> bool:
    """End one of ``user``'s sessions; False when it was not theirs or is gone."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        return False
    address = str(row.ip_address) if row.ip_address else None
    sessions.end(user.id, session_id)
    audit.record_sign_in("SESSION_ENDED", user.id, _actor(), {"session": session_id, "ip": address})
    return True


def end_sessions(user_id: int, keep: int | None = None) -> int:
    """End every session of the user (but ``keep``, the one making the request)."""
    ended = sessions.end_all(user_id, keep)
    if ended:
        record_sessions_ended(user_id, ended)
    return ended


def record_sessions_ended(user_id: int, ended: int, why: str | None = None) -> None:
    """The audit row for sessions ended at once (by a person, or by a new password)."""
    details: dict[str, object] = {"sessions_ended": ended}
    if why:
        details["why"] = why
    audit.record_sign_in("SESSION_ENDED", user_id, _actor(), details)
