"""The seed's and the demo data's exchange rates (issue 17, part 1).

Rough 2026 values of each offered currency in US dollars; rates to any base
currency among them are worked out from these (EUR in GBP = 1.08 / 1.27). The
seed adds one rate per currency from SEED_RATES_FROM, so every seed and demo lead
converts; the demo data adds a rate on the 1st of each of its months, moving a
few percent from month to month as real rates do.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, text

# One unit in US dollars (the demo's invented but plausible values).
USD_VALUE = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "CAD": Decimal("0.73"),
    "AUD": Decimal("0.66"),
    "JPY": Decimal("0.0067"),
    "CHF": Decimal("1.13"),
}
SEED_RATES_FROM = date(2020, 1, 1)
DEMO_MONTHS = 36  # the demo's leads go back about two years; rates a year further
PLACES = Decimal("0.00000001")  # numeric(18, 8)

INSERT = text(
    "INSERT INTO exchange_rates (currency, rate, valid_from) VALUES (:currency, :rate, :day) "
    "ON CONFLICT (currency, valid_from) DO NOTHING"
)


def rates_to(base: str, wobble: float = 0.0) -> dict[str, Decimal]:
    """Every other currency's rate to ``base`` ({} when ``base`` is not one of ours).

    ``wobble`` moves each currency's value by up to 4%, differently per currency.
    """
    if base not in USD_VALUE:
        return {}
    rates = {}
    for n, (currency, value) in enumerate(USD_VALUE.items()):
        moved = value * Decimal(str(1 + 0.04 * math.sin(wobble + n))) if wobble else value
        rates[currency] = moved
    return {
        currency: (value / rates[base]).quantize(PLACES)
        for currency, value in rates.items()
        if currency != base
    }


def _insert(conn: Connection, day: date, rates: dict[str, Decimal]) -> int:
    added = 0
    for currency, rate in rates.items():
        added += conn.execute(INSERT, {"currency": currency, "rate": rate, "day": day}).rowcount
    return added


def seed_rates(conn: Connection, base: str) -> int:
    """The seed's rates, one per currency from SEED_RATES_FROM; how many were added."""
    return _insert(conn, SEED_RATES_FROM, rates_to(base))


def demo_rates(conn: Connection, base: str, today: date) -> int:
    """A rate on the 1st of each of the last DEMO_MONTHS months; how many were added."""
    added, month = 0, today.replace(day=1)
    for n in range(DEMO_MONTHS):
        added += _insert(conn, month, rates_to(base, wobble=0.35 * n + 0.1))
        month = (month.replace(day=1) - date.resolution).replace(day=1)
    return added
