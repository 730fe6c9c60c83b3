"""Password rules and bcrypt hashing."""

from __future__ import annotations

from functools import cache

import bcrypt
from flask import current_app

MIN_LENGTH = 8
# bcrypt ignores everything past 72 bytes; refuse rather than silently truncate.
MAX_BYTES = 72


class PasswordError(ValueError):
    """A password that breaks a rule; the message is shown to the user."""


@cache
def _common() -> frozenset[str]:
    """The 30,000 most common passwords (from breaches) that zxcvbn's dictionaries ship."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    """Whether ``password`` (in any letter case) is on the list of common passwords."""
    return password.lower() in _common()


def validate(password: str) -> None:
    """Raise PasswordError unless the password is 8+ characters, ≤ 72 bytes, not common."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password.encode("utf-8")) > MAX_BYTES:
        raise PasswordError(
            f"Password is too long: at most {MAX_BYTES} bytes (fewer characters if it "
            "uses accents or symbols)."
        )
    if is_common(password):
        raise PasswordError(
            "That password is on a list of common passwords seen in data breaches, so it "
            "would be among the first guessed. Choose another: a few unrelated words work well."
        )


def hash_password(password: str, rounds: int | None = None) -> str:
    """A ``$2b$`` bcrypt hash at the configured cost (12 unless testing).

    Callers validate passwords people choose; the seed's fixed demo passwords
    (one is only 7 characters) are hashed as the README promises them.
    """
    if len(password.encode("utf-8")) > MAX_BYTES:
        raise PasswordError(f"Password is too long: at most {MAX_BYTES} bytes.")
    cost = rounds or current_app.config["BCRYPT_ROUNDS"]
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches a bcrypt hash of any cost."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:  # not a bcrypt hash at all
        return False


_DUMMY_HASHES: dict[int, bytes] = {}


def spend_comparable_time(password: str) -> None:
    """Do the bcrypt work a real check would, so a missing account takes as long."""
    rounds = current_app.config["BCRYPT_ROUNDS"]
    if rounds not in _DUMMY_HASHES:
        _DUMMY_HASHES[rounds] = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=rounds))
    bcrypt.checkpw(password.encode("utf-8")[:MAX_BYTES], _DUMMY_HASHES[rounds])
