"""``exchange_rates``: what one unit of a currency is worth in the base currency (migration 0023).

A rate holds from ``valid_from`` until the same currency's next rate. The base
currency (the ``BASE_CURRENCY`` setting) has no rows: its rate is always 1.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.columns import CreatedAt, RowVersion, UpdatedAt


class ExchangeRate(Model):
    """1 ``currency`` = ``rate`` base-currency units, from ``valid_from`` on."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="chk_exchange_rates_currency"),
        CheckConstraint("rate > 0", name="chk_exchange_rates_rate"),
        UniqueConstraint("currency", "valid_from", name="uq_exchange_rates_currency_valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), info={"label": "Currency"})
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8), info={"label": "Rate"})
    valid_from: Mapped[date] = mapped_column(info={"label": "Valid from"})
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate} from {self.valid_from:%Y-%m-%d}"
