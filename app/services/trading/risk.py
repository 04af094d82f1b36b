"""`ExecutionRiskControl`: pre-trade checks from in-memory state only (no I/O: microseconds, not milliseconds).

The spec's six limits (`max_order_size`, `min_order_size`, `max_order_value`, `max_price_deviation`,
`max_daily_loss`, `max_position_value_pct`) plus DESIGN.md §6: balance including fees, instrument live and
size/price aligned to its `lotSz`/`tickSz`/`minSz`, maximum open orders, an order-rate throttle per strategy, and
the trading state (`active` / `reducing` / `halted`) that the kill switch sets. Each failure has a stable `code`
and a human `reason`; recording the `risk_check_failed` event is the caller's job (it owns the transaction).

Units: sizes in base currency (a swap's contracts × ctVal), values in the quote currency.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from app.models.trading import OrderSide
from app.services.okx import models as okx
from app.services.trading.signal import Account, Signal

__all__ = [
    "DEFAULT_RISK_CONFIG",
    "ExecutionRiskControl",
    "InstrumentRules",
    "RiskCheckResult",
    "RiskCode",
    "TradingState",
]


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that shrink a position
    HALTED = "halted"  # nothing new (the kill switch)


class RiskCode(StrEnum):
    TRADING_HALTED = "trading_halted"
    REDUCING_ONLY = "reducing_only"
    SIGNAL_EXPIRED = "signal_expired"
    INSTRUMENT_UNKNOWN = "instrument_unknown"
    INSTRUMENT_NOT_LIVE = "instrument_not_live"
    INSTRUMENT_NOT_SUPPORTED = "instrument_not_supported"
    NO_MARKET_PRICE = "no_market_price"
    SIZE_NOT_LOT_MULTIPLE = "size_not_lot_multiple"
    SIZE_BELOW_INSTRUMENT_MINIMUM = "size_below_instrument_minimum"
    PRICE_NOT_TICK_MULTIPLE = "price_not_tick_multiple"
    ORDER_SIZE_TOO_SMALL = "order_size_too_small"
    ORDER_SIZE_TOO_LARGE = "order_size_too_large"
    ORDER_VALUE_TOO_LARGE = "order_value_too_large"
    PRICE_DEVIATION_TOO_LARGE = "price_deviation_too_large"
    DAILY_LOSS_LIMIT = "daily_loss_limit_reached"
    POSITION_LIMIT = "position_limit_exceeded"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"
    STRATEGY_RATE_LIMITED = "strategy_rate_limited"


@dataclass(frozen=True)
class RiskCheckResult:
    passed: bool
    code: RiskCode | None = None
    reason: str | None = None
    # The order the check approved, in the instrument's unit (a notional signal converted at the reference price).
    size: Decimal | None = None
    reference_price: Decimal | None = None

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class InstrumentRules:
    """What the checks need of an instrument (from OKX's /public/instruments)."""

    instrument_id: str
    base_currency: str
    quote_currency: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    contract_value: Decimal = Decimal(1)  # base units per size unit (ctVal for swaps)
    is_derivative: bool = False
    live: bool = True
    leverage: Decimal = Decimal(1)
    # Why this service does not trade it (an inverse contract), or None.
    not_supported: str | None = None

    @classmethod
    def from_okx(cls, instrument: okx.Instrument) -> InstrumentRules:
        """The rules of an instrument as OKX's /public/instruments gives it. An inverse contract (`ctType`
        inverse: its `ctVal` is in USD and its PnL in the base currency) is not supported: the position
        arithmetic here is linear (DESIGN.md §5: m = ctVal for linear contracts), and would book a one-contract
        BTC-USD-SWAP move of 1,000 USD as 100,000 of PnL."""
        base = instrument.base_ccy or (instrument.uly or instrument.inst_id).split("-")[0]
        quote = instrument.quote_ccy or instrument.settle_ccy or (instrument.uly or "-").split("-")[1]
        inverse = instrument.ct_type == "inverse"
        return cls(
            instrument.inst_id,
            base,
            quote,
            instrument.tick_sz,
            instrument.lot_sz,
            instrument.min_sz,
            contract_value=instrument.contract_multiplier,
            is_derivative=instrument.inst_type != "SPOT",
            live=instrument.is_live,
            leverage=instrument.lever or Decimal(1),
            not_supported="inverse contracts (settled in the base currency) are not supported" if inverse else None,
        )


DEFAULT_RISK_CONFIG: dict[str, Decimal | int | float] = {
    "max_order_size": Decimal("10"),
    "min_order_size": Decimal("0.001"),
    "max_order_value": Decimal("10000"),
    "max_price_deviation": Decimal("0.05"),
    "max_daily_loss": Decimal("0.1"),
    "max_position_value_pct": Decimal("0.5"),
    "max_open_orders": 200,
    "max_orders_per_strategy": 50,  # per `strategy_window_s`
    "strategy_window_s": 1.0,
    "fee_rate": Decimal("0.001"),  # taker fee reserved on top of the order value in the balance check
}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(str(value))  # the spec's sample config uses floats: take their shortest repr, exactly
    return Decimal(value)


def _fail(code: RiskCode, reason: str) -> RiskCheckResult:
    return RiskCheckResult(False, code, reason)


@dataclass
class _StrategyWindow:
    sent: deque[float] = field(default_factory=deque)


class ExecutionRiskControl:
    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        merged = {**DEFAULT_RISK_CONFIG, **(config or {})}
        unknown = set(merged) - set(DEFAULT_RISK_CONFIG)
        if unknown:
            raise ValueError(f"unknown risk setting(s): {', '.join(sorted(unknown))}")
        self.max_order_size = _decimal(merged["max_order_size"])
        self.min_order_size = _decimal(merged["min_order_size"])
        self.max_order_value = _decimal(merged["max_order_value"])
        self.max_price_deviation = _decimal(merged["max_price_deviation"])
        self.max_daily_loss = _decimal(merged["max_daily_loss"])
        self.max_position_value_pct = _decimal(merged["max_position_value_pct"])
        self.max_open_orders = int(merged["max_open_orders"])
        self.max_orders_per_strategy = int(merged["max_orders_per_strategy"])
        self.strategy_window_s = float(merged["strategy_window_s"])
        self.fee_rate = _decimal(merged["fee_rate"])
        if self.min_order_size > self.max_order_size:
            raise ValueError("min_order_size must not exceed max_order_size")
        self._clock = clock
        self._wall_clock = wall_clock
        self.trading_state = TradingState.ACTIVE
        self.instruments: dict[str, InstrumentRules] = {}
        self.prices: dict[str, Decimal] = {}
        self.open_orders = 0
        self._strategies: dict[str, _StrategyWindow] = {}

    # --- the in-memory state the checks read ------------------------------------------------------------

    def set_instrument(self, rules: InstrumentRules) -> None:
        self.instruments[rules.instrument_id] = rules

    def set_price(self, instrument_id: str, price: Decimal) -> None:
        self.prices[instrument_id] = price

    def set_trading_state(self, state: TradingState) -> None:
        self.trading_state = state

    def reduce_only_required(self, instrument_id: str) -> bool:
        """While trading is reducing-only, a derivative order is sent reduce-only, so that the exchange itself
        refuses what would open or flip a position. The check here reads positions a few seconds old and judges
        each order alone: two sells of a 1-contract long each pass it, and would leave a short. (OKX has no
        reduce-only for spot in a cash account; there a sale is bounded by the coins held.)"""
        rules = self.instruments.get(instrument_id)
        return self.trading_state is TradingState.REDUCING and rules is not None and rules.is_derivative

    def record_order(self, strategy_id: str) -> None:
        """An order passed the checks: it counts toward the strategy's rate and the open orders at once, before any
        await, so concurrent requests cannot all slip under a limit. The open count is recounted from the database
        every few seconds (`set_open_orders`), which also forgets orders that finished or were refused."""
        self.open_orders += 1
        self._strategies.setdefault(strategy_id, _StrategyWindow()).sent.append(self._clock())

    def order_finished(self) -> None:
        """An order reached a final status (committed): it no longer counts as open. Without this, a burst of orders
        that finish at once would still count until the next recount and refuse new ones."""
        self.open_orders = max(0, self.open_orders - 1)

    def set_open_orders(self, count: int) -> None:
        self.open_orders = count

    # --- the check ----------------------------------------------------------------------------------------

    def pre_trade_check(self, signal: Signal, account: Account | None) -> RiskCheckResult:
        """Every limit, cheapest first; the first failure is the answer. Without an account (a strategy used from
        Python without one), the checks that need it — daily loss, position value, balance — are skipped."""
        instrument_id = signal.instrument_id
        position = account.positions.get(instrument_id, Decimal(0)) if account is not None else Decimal(0)
        buy = signal.side is OrderSide.BUY

        if self.trading_state is TradingState.HALTED:
            return _fail(RiskCode.TRADING_HALTED, "trading is halted (kill switch): no new orders")
        age = signal.age_s(self._wall_clock())
        if age > signal.max_age_s:
            return _fail(
                RiskCode.SIGNAL_EXPIRED,
                f"signal is {age:.3f} s old, older than its max_age_s {signal.max_age_s:g}",
            )

        rules = self.instruments.get(instrument_id)
        if rules is None:
            return _fail(RiskCode.INSTRUMENT_UNKNOWN, f"instrument {instrument_id} is not known")
        if rules.not_supported is not None:
            return _fail(RiskCode.INSTRUMENT_NOT_SUPPORTED, f"{instrument_id}: {rules.not_supported}")
        if not rules.live:
            return _fail(RiskCode.INSTRUMENT_NOT_LIVE, f"instrument {instrument_id} is not live")
        market = self.prices.get(instrument_id)
        reference = signal.price or market
        if reference is None:
            return _fail(RiskCode.NO_MARKET_PRICE, f"no market price is known for {instrument_id}")

        if signal.size is not None:
            size = signal.size
        else:
            assert signal.notional is not None
            units = signal.notional / (reference * rules.contract_value)
            size = (units / rules.lot_size).to_integral_value(ROUND_FLOOR) * rules.lot_size
        if size % rules.lot_size != 0:
            return _fail(
                RiskCode.SIZE_NOT_LOT_MULTIPLE,
                f"size {size} is not a multiple of the lot size {rules.lot_size}",
            )
        if size < rules.min_size:
            return _fail(RiskCode.SIZE_BELOW_INSTRUMENT_MINIMUM, f"size {size} is below the minimum {rules.min_size}")
        if signal.price is not None and signal.price % rules.tick_size != 0:
            return _fail(
                RiskCode.PRICE_NOT_TICK_MULTIPLE,
                f"price {signal.price} is not a multiple of the tick {rules.tick_size}",
            )

        # Reducing: the opposite side of the position, and no larger than it (a larger one would flip it).
        reduces = position != 0 and ((position < 0) == buy) and size <= abs(position)
        if self.trading_state is TradingState.REDUCING and not reduces:
            return _fail(
                RiskCode.REDUCING_ONLY, "trading is reducing-only: this order would not only shrink a position"
            )

        base_size = size * rules.contract_value
        if base_size < self.min_order_size:
            return _fail(
                RiskCode.ORDER_SIZE_TOO_SMALL,
                f"order size {base_size} is below min_order_size {self.min_order_size}",
            )
        if base_size > self.max_order_size:
            return _fail(
                RiskCode.ORDER_SIZE_TOO_LARGE,
                f"order size {base_size} exceeds max_order_size {self.max_order_size}",
            )
        value = base_size * reference
        if value > self.max_order_value:
            return _fail(
                RiskCode.ORDER_VALUE_TOO_LARGE,
                f"order value {value} exceeds max_order_value {self.max_order_value}",
            )
        if signal.price is not None and market is not None:
            deviation = abs(signal.price - market) / market
            if deviation > self.max_price_deviation:
                return _fail(
                    RiskCode.PRICE_DEVIATION_TOO_LARGE,
                    f"price {signal.price} is {deviation:.2%} from the market {market}; the limit is "
                    f"{self.max_price_deviation:.2%}",
                )
        daily_loss = -account.daily_realized_pnl if account is not None else Decimal(0)
        if (
            account is not None
            and not reduces
            and daily_loss > 0
            and daily_loss >= self.max_daily_loss * account.equity
        ):
            return _fail(
                RiskCode.DAILY_LOSS_LIMIT,
                f"today's loss {-account.daily_realized_pnl} reached max_daily_loss "
                f"{self.max_daily_loss:.2%} of equity {account.equity}",
            )
        after = position + (size if buy else -size)
        if account is not None and abs(after) > abs(position):
            position_value = abs(after) * rules.contract_value * reference
            limit = self.max_position_value_pct * account.equity
            if position_value > limit:
                return _fail(
                    RiskCode.POSITION_LIMIT,
                    f"position value after the order {position_value} exceeds {self.max_position_value_pct:.2%} "
                    f"of equity ({limit})",
                )
        if account is not None:
            failure = self._balance_check(rules, buy, size, value, account, reduces)
            if failure is not None:  # (a failed result is falsy: compare with None)
                return failure
        if self.open_orders >= self.max_open_orders:
            return _fail(
                RiskCode.TOO_MANY_OPEN_ORDERS,
                f"{self.open_orders} orders are open; the limit is {self.max_open_orders}",
            )
        window = self._strategies.get(signal.strategy_id)
        if window is not None:
            horizon = self._clock() - self.strategy_window_s
            while window.sent and window.sent[0] <= horizon:
                window.sent.popleft()
            if len(window.sent) >= self.max_orders_per_strategy:
                return _fail(
                    RiskCode.STRATEGY_RATE_LIMITED,
                    f"strategy {signal.strategy_id} sent {len(window.sent)} orders in the last "
                    f"{self.strategy_window_s:g} s; the limit is {self.max_orders_per_strategy}",
                )
        return RiskCheckResult(True, size=size, reference_price=reference)

    def _balance_check(
        self, rules: InstrumentRules, buy: bool, size: Decimal, value: Decimal, account: Account, reduces: bool
    ) -> RiskCheckResult | None:
        fee = value * self.fee_rate
        if rules.is_derivative:
            if reduces:
                return None
            currency, needed = rules.quote_currency, value / rules.leverage + fee
        elif buy:
            currency, needed = rules.quote_currency, value + fee
        else:
            currency, needed = rules.base_currency, size
        available = account.balance(currency)
        if available < needed:
            return _fail(
                RiskCode.INSUFFICIENT_BALANCE, f"needs {needed} {currency} (fees included), {available} available"
            )
        return None
