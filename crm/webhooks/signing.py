"""Each webhook's signing secret (encrypted at rest) and the signature of a delivery.

A receiver checks ``X-CRM-Signature: sha256=<hex>``: the HMAC-SHA256, keyed with the
webhook's secret, of ``<X-CRM-Timestamp>.<raw body>``; and refuses an old timestamp,
so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet
from flask import current_app

from crm.security import sealing

PREFIX = "whsec_"


def _box() -> Fernet:
    return sealing.cipher(current_app.config["SECRET_KEY"], b"crm webhook secrets")


def new_secret() -> str:
    """A fresh signing secret (256 bits), shown to the admin once."""
    return PREFIX + secrets.token_urlsafe(32)


def encrypt(secret: str) -> str:
    """The secret as stored."""
    return sealing.seal(_box(), secret)


def decrypt(stored: str) -> str | None:
    """The stored secret, or None when SECRET_KEY changed since (rotate the secret)."""
    return sealing.unseal(_box(), stored)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-CRM-Signature`` header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()
