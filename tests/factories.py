"""Small builders for test rows (flushed, so ids exist)."""

from __future__ import annotations

import itertools
from typing import Any, TypeVar

from crm.extensions import db
from crm.models import Customer, Interaction, InteractionType, Lead, LeadStage, Task, User, UserRole

_seq = itertools.count(1)
T = TypeVar("T")
# A fixed bcrypt hash; tests that need real passwords hash their own.
DUMMY_HASH = "$2b$04$C6UzMDM.H6dfI/f/IKxGhu2dEd1jwIg8HPvA/3mY3I2.8bLmuCzzi"


def user(**fields: Any) -> User:
    n = next(_seq)
    row = User(
        email=fields.pop("email", f"user{n}@example.com"),
        name=fields.pop("name", f"User {n}"),
        password_hash=fields.pop("password_hash", DUMMY_HASH),
        role=fields.pop("role", UserRole.USER),
        **fields,
    )
    return _add(row)


def customer(**fields: Any) -> Customer:
    n = next(_seq)
    row = Customer(
        name=fields.pop("name", f"Customer {n}"),
        company=fields.pop("company", f"Company {n}"),
        **fields,
    )
    return _add(row)


def stage(**fields: Any) -> LeadStage:
    n = next(_seq)
    return _add(LeadStage(name=fields.pop("name", f"Stage {n}"), **fields))


def lead(**fields: Any) -> Lead:
    n = next(_seq)
    return _add(Lead(title=fields.pop("title", f"Lead {n}"), **fields))


def task(**fields: Any) -> Task:
    n = next(_seq)
    return _add(Task(title=fields.pop("title", f"Task {n}"), **fields))


def interaction(**fields: Any) -> Interaction:
    return _add(Interaction(type=fields.pop("type", InteractionType.CALL), **fields))


def _add(row: T) -> T:
    db.session.add(row)
    db.session.flush()
    return row
