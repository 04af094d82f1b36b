"""`Signal` (what a strategy wants) and `Account` (what the risk checks read), as DESIGN.md §9 defines them.

A signal says what, not how: instrument, side, a size in the instrument's unit *or* a notional in quote, an optional
limit price and execution algorithm, the caller's id for idempotency, and when it was made with a maximum age —
a stale signal traded late is a loss, so it is refused. `Account` is built from the exchange's balances, never
typed in by a caller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models.trading import OrderSide

__all__ = ["Account", "ExecutionSpec", "Signal"]


class ExecutionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["market", "limit", "twap", "iceberg"]
    config: dict[str, Any] = Field(default_factory=dict)


class Signal(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "strategy_id": "mean-reversion-1",
                    "instrument_id": "BTC-USDT",
                    "side": "buy",
                    "notional": "250",
                    "client_signal_id": "mr1-2026-11-25T09:30:00Z",
                    "created_at": "2026-11-25T09:30:00Z",
                    "max_age_s": 5,
                },
            ]
        },
    )

    strategy_id: str = Field(min_length=1, max_length=64)
    instrument_id: str = Field(min_length=1, max_length=64)
    side: OrderSide
    # Exactly one of: size in the instrument's unit (base for spot, contracts for swaps), or notional in quote.
    size: Decimal | None = Field(default=None, gt=0)
    notional: Decimal | None = Field(default=None, gt=0)
    price: Decimal | None = Field(default=None, gt=0, description="limit price; none for a market order")
    reduce_only: bool = False
    execution: ExecutionSpec | None = None
    client_signal_id: str | None = Field(default=None, min_length=1, max_length=100)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    max_age_s: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("size", "notional", "price")
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is None:
            return value
        if not value.is_finite():
            raise ValueError("must be a finite number")
        exponent = value.as_tuple().exponent
        if value.adjusted() > 18 or (isinstance(exponent, int) and exponent < -18):
            raise ValueError("must have at most 18 digits before the point and 18 after")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a timezone (use UTC)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _one_size(self) -> Signal:
        if (self.size is None) == (self.notional is None):
            raise ValueError("give exactly one of size (instrument units) or notional (quote currency)")
        return self

    def age_s(self, now: datetime) -> float:
        return (now - self.created_at).total_seconds()


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    equity: Decimal = Field(ge=0, description="account equity in the quote currency (USDT)")
    available: dict[str, Decimal] = Field(default_factory=dict, description="spendable balance per currency")
    daily_realized_pnl: Decimal = Decimal(0)
    # Signed size per instrument (instrument units), for the position limit and the reducing-only state.
    positions: dict[str, Decimal] = Field(default_factory=dict)

    def balance(self, currency: str) -> Decimal:
        return self.available.get(currency, Decimal(0))
