"""One way to show money, dates and times on every page (Babel, locale-aware).

- Money: the amount with its currency code, "12,500.01 EUR" (two decimals, the
  locale's separators: "12.500,01 EUR" in de_DE).
- Times: to the minute, in DISPLAY_TIMEZONE, with the zone: "2026-11-30 14:05 UTC".
  The database holds UTC (the app connects with timezone=UTC).
- Dates: ISO, "2026-11-30": the one layout nobody reads the wrong way round.

Settings: DISPLAY_LOCALE (default en_US) and DISPLAY_TIMEZONE (default UTC). CSV
exports keep machine-readable values instead (crm/admin/export.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import NumberPattern, parse_pattern
from flask import Flask, current_app, has_app_context

from crm.db.server import StartupError

# Two decimals whatever the currency, its code after the amount (no symbol to mistake).
MONEY = "#,##0.00\xa0¤¤"
NUMBER = "#,##0.00"
WHOLE = "#,##0"


def _locale() -> Locale:
    name = current_app.config["DISPLAY_LOCALE"] if has_app_context() else "en_US"
    return _parsed(name)


# Parsed once: Babel's format_* functions parse the locale and the pattern on every call
# (22 µs an amount, 3 ms of a board page's 140 cards; 4 µs so).
@cache
def _parsed(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _pattern(layout: str) -> NumberPattern:
    return parse_pattern(layout)


def _zone() -> ZoneInfo:
    name = current_app.config["DISPLAY_TIMEZONE"] if has_app_context() else "UTC"
    return ZoneInfo(name)


def money(amount: Decimal | float | None, currency: str | None = None) -> str:
    """An amount with its currency ("12,500.01 EUR"); the number alone without one."""
    if amount is None:
        return ""
    if not currency:
        return str(_pattern(NUMBER).apply(amount, _locale()))
    return str(_pattern(MONEY).apply(amount, _locale(), currency=currency, currency_digits=False))


def whole(amount: Decimal | float | None) -> str:
    """A rounded amount for tight spaces (a board card): "12,500"."""
    return "" if amount is None else _pattern(WHOLE).apply(round(amount), _locale())


def when(value: datetime | None) -> str:
    """A time to the minute, in the display zone, naming it: "2026-11-30 14:05 UTC"."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the database's TIMESTAMPs are UTC
    return format_datetime(value, "yyyy-MM-dd HH:mm z", tzinfo=_zone(), locale=_locale())


def local(value: datetime) -> datetime:
    """A stored (UTC, naive) time as the display zone's wall-clock time, naive."""
    return value.replace(tzinfo=UTC).astimezone(_zone()).replace(tzinfo=None)


def to_utc(value: datetime) -> datetime:
    """A wall-clock time typed in the display zone, as stored: UTC, naive."""
    return value.replace(tzinfo=_zone()).astimezone(UTC).replace(tzinfo=None)


def day(value: date | None) -> str:
    """A date as ISO: "2026-11-30"."""
    return "" if value is None else value.isoformat()


def init_app(app: Flask) -> None:
    """Check the settings at start-up, and give templates the same filters."""
    zone, locale = app.config["DISPLAY_TIMEZONE"], app.config["DISPLAY_LOCALE"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StartupError(
            f"DISPLAY_TIMEZONE={zone!r} is not a time zone; use a name such as UTC or Europe/Berlin"
        ) from None
    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        raise StartupError(
            f"DISPLAY_LOCALE={locale!r} is not a locale; use one such as en_US or de_DE"
        ) from None
    app.jinja_env.filters.update(money=money, whole=whole, when=when, day=day)
