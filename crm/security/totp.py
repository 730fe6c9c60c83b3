"""Two-factor codes (RFC 6238 TOTP, with pyotp) and recovery codes (a service).

The secret is stored encrypted (Fernet) with a key from the environment:
``TWO_FACTOR_KEY``, or one derived from ``SECRET_KEY`` when that is unset. A code
is accepted once: the 30-second step of the last code accepted is kept, and only
a later step passes, one step of clock drift either way allowed. Recovery codes
are about 59 random bits each, stored as SHA-256 digests, used once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import pyotp
import segno
from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import delete, func, select, update

from crm.extensions import db
from crm.models import RecoveryCode, User
from crm.security import sealing

STEP_SECONDS = 30
DRIFT_STEPS = 1  # a code from the step before or after now still passes
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _fernet() -> Fernet:
    """The cipher for secrets, keyed from TWO_FACTOR_KEY (else SECRET_KEY) by HKDF."""
    config = current_app.config
    return sealing.cipher(
        config.get("TWO_FACTOR_KEY") or config["SECRET_KEY"], b"crm two-factor secrets"
    )


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def encrypt(secret: str) -> str:
    """``secret`` as stored: Fernet-encrypted, ASCII."""
    return sealing.seal(_fernet(), secret)


def decrypt(stored: str) -> str | None:
    """The secret ``encrypt`` stored, or None when the key has changed since."""
    return sealing.unseal(_fernet(), stored)


def setup_uri(secret: str, email: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    issuer = current_app.config["TWO_FACTOR_ISSUER"]
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code for ``uri`` as an inline SVG, drawn here (no remote service)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff"))


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def matching_step(
    secret: str, code: str, after: int | None, now: float | None = None
) -> int | None:
    """The step whose code ``code`` is (within the drift), if later than ``after``."""
    code = _clean(code)
    if not (code.isascii() and code.isdigit() and len(code) == 6):  # not "١٢٣٤٥٦"
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        fresh = after is None or step > after
        if fresh and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_code(user: User, code: str) -> bool:
    """Whether ``code`` is the user's current code, not used before; records it used.

    The caller holds the user's row locked (SELECT ... FOR UPDATE), so two requests
    with the same code cannot both pass.
    """
    secret = decrypt(user.totp_secret) if user.totp_secret else None
    if secret is None:
        return False
    step = matching_step(secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def _digest(code: str) -> str:
    return hashlib.sha256(_clean(code).encode("ascii", "replace")).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Ten new single-use codes for ``user`` (the old set is gone); shown once."""
    codes = [
        "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODES)
    ]
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(c)) for c in codes)
    return codes


def use_recovery_code(user: User, code: str) -> int | None:
    """Spend one of the user's unused recovery codes; how many remain, or None if not one."""
    cleaned = _clean(code)
    if len(cleaned) != 12:
        return None
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(cleaned),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC).replace(tzinfo=None))
        .returning(RecoveryCode.id)
    ).first()
    return None if spent is None else unused_codes(user)


def unused_codes(user: User) -> int:
    """How many recovery codes the user has left."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def turn_on(user: User, secret: str, step: int) -> list[str]:
    """Two-factor on for ``user`` with ``secret`` (its code for ``step`` just checked)."""
    user.totp_secret = encrypt(secret)
    user.totp_enabled_at = datetime.now(UTC).replace(tzinfo=None)
    user.totp_last_step = step
    return new_recovery_codes(user)


def turn_off(user: User) -> None:
    """Two-factor off for ``user``: secret and recovery codes gone."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
