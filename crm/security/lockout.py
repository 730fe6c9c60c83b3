"""Account lockout after repeated failed sign-ins (a service: session in, facts out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.models import User


@dataclass(frozen=True)
class LockoutPolicy:
    """10 consecutive failures lock for 15 minutes; each repeat doubles, up to a cap."""

    threshold: int = 10
    minutes: int = 15
    max_minutes: int = 24 * 60

    def duration(self, lockout_number: int) -> timedelta:
        """How long the n-th lockout in a row lasts (1 → 15 min, 2 → 30 min, ...)."""
        minutes = self.minutes * 2 ** max(lockout_number - 1, 0)
        return timedelta(minutes=min(minutes, self.max_minutes))


def is_locked(user: User, now: datetime) -> bool:
    """Whether the account is inside a lockout window."""
    return user.locked_until is not None and user.locked_until > now


def record_failure(user: User, now: datetime, policy: LockoutPolicy) -> bool:
    """Count a wrong password; lock the account at the threshold. True if it locked."""
    user.failed_login_count = (user.failed_login_count or 0) + 1
    if user.failed_login_count < policy.threshold:
        return False
    user.lockout_count = (user.lockout_count or 0) + 1
    user.locked_until = now + policy.duration(user.lockout_count)
    user.failed_login_count = 0
    return True


def record_success(user: User, now: datetime) -> None:
    """A good sign-in clears the counters and stamps ``last_login``."""
    user.failed_login_count = 0
    user.lockout_count = 0
    user.locked_until = None
    user.last_login = now
