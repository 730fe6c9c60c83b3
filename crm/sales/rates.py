"""Exchange rates: amounts in every currency converted to the base currency.

An amount's date is its lead's creation date, and it converts at the rate valid
that day: its currency's rate with the latest ``valid_from`` on or before it. The
base currency (``BASE_CURRENCY``) converts at 1. An amount with no such rate is
never summed unconverted and never dropped: its lead is counted, its amount left
out of the converted sum, and it is reported (``Unrated``) so an admin can add
the rate.

The pipeline's sums come grouped by creation month; a month converts at one rate
unless one of its currency's rates starts inside it (``split_months``), and then
its leads are grouped by day instead (crm/sales/converted.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from crm.extensions import DbSession
from crm.models import ExchangeRate


def base_currency() -> str:
    """The currency every amount is converted to (setting ``BASE_CURRENCY``)."""
    return str(current_app.config["BASE_CURRENCY"])


@dataclass(frozen=True, order=True)
class Rate:
    """1 ``currency`` = ``rate`` base units, from ``valid_from``."""

    currency: str
    valid_from: date
    rate: Decimal


@dataclass
class Unrated:
    """Amounts in one currency with no rate for their date."""

    currency: str
    leads: int = 0
    amount: Decimal = Decimal(0)
    earliest: date | None = None  # a rate valid from this day or before covers them all


@dataclass
class Rates:
    """Every rate, by currency; what a conversion used and could not convert."""

    base: str
    by_currency: dict[str, list[Rate]] = field(default_factory=dict)
    used: dict[str, set[Rate]] = field(default_factory=lambda: defaultdict(set))
    unrated: dict[str, Unrated] = field(default_factory=dict)
    _starts: dict[str, list[date]] = field(default_factory=dict, repr=False, compare=False)

    def rate_on(self, currency: str, day: date | None) -> Rate | None:
        """The rate valid on ``day`` (None: there is none; the base: 1).

        A lead with no creation date (the spec's column is nullable) has no day, so no
        rate but the base currency's.
        """
        if currency == self.base:
            return Rate(currency, date.min, Decimal(1))
        if day is None:
            return None
        rates = self.by_currency.get(currency, [])
        if currency not in self._starts:  # once per currency: a page converts thousands of groups
            self._starts[currency] = [r.valid_from for r in rates]
        at = bisect_right(self._starts[currency], day)
        return rates[at - 1] if at else None

    def split_months(self) -> set[tuple[str, date]]:
        """(currency, month) pairs where a rate starts after the 1st: converted by day."""
        return {
            (currency, rate.valid_from.replace(day=1))
            for currency, rates in self.by_currency.items()
            for rate in rates
            if rate.valid_from.day != 1
        }

    def factor(
        self, currency: str | None, day: date | None, amount: Decimal, leads: int
    ) -> Decimal | None:
        """What to multiply sums in ``currency`` created on ``day`` by (None: no rate).

        ``amount`` and ``leads`` are the sums'; without a rate they are recorded in
        ``unrated`` (a lead without an amount too: its currency has no rate that
        day), with one the rate is recorded in ``used``.
        """
        # A lead with no currency: listed as such, sorted first. One saved as " eur" by raw
        # SQL (the forms and the import store codes upper case) converts as EUR.
        code = (currency or "").strip().upper()
        rate = self.rate_on(code, day)
        if rate is None:
            missing = self.unrated.setdefault(code, Unrated(code))
            missing.leads += leads
            missing.amount += amount
            if day is not None:
                missing.earliest = min(missing.earliest or day, day)
            return None
        if code != self.base:
            self.used[code].add(rate)
        return rate.rate

    def summary(self) -> list[tuple[str, int, Rate, Rate]]:
        """Per currency converted: how many rates were used, the oldest and the newest."""
        return [
            (currency, len(rates), min(rates), max(rates))
            for currency, rates in sorted(self.used.items())
            if rates
        ]


def load(session: DbSession, base: str | None = None) -> Rates:
    """Every rate (a small table: one statement), ready to convert with."""
    rates = Rates(base or base_currency())
    rows = session.execute(
        select(ExchangeRate.currency, ExchangeRate.valid_from, ExchangeRate.rate).order_by(
            ExchangeRate.currency, ExchangeRate.valid_from
        )
    )
    for currency, valid_from, rate in rows:
        rates.by_currency.setdefault(currency, []).append(Rate(currency, valid_from, rate))
    return rates
