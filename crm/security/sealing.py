"""Secrets the app must read back (2FA seeds, webhook signing keys), encrypted at rest.

Fernet, keyed by HKDF from a key in the environment; each purpose gets its own
derived key, so one kind of secret never decrypts as another.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def cipher(material: str, purpose: bytes) -> Fernet:
    """The cipher for one ``purpose``, keyed from ``material`` (a secret from the environment)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        material.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(box: Fernet, secret: str) -> str:
    """``secret`` as stored: Fernet-encrypted, ASCII."""
    return box.encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(box: Fernet, stored: str) -> str | None:
    """The secret ``seal`` stored, or None when the key has changed since."""
    try:
        return box.decrypt(stored.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return None
