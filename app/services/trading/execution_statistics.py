"""Execution statistics: the spec's "Monitoring" figures and the execution-quality ones (DESIGN.md §8).

Over the orders *created* in [start, end) (orders found on the exchange but not created here are left out: they were
not ours to execute), and the trades *executed* and risk refusals *recorded* in it:
- `fill_rate` = filled / finished orders; `rejection_rate` = rejected / orders that were sent;
- `average_time_to_fill_s` = mean(finished − submitted) over filled orders; `average_time_to_ack_s` =
  mean(acknowledged − submitted) over acknowledged orders;
- `slippage_bps` = mean over orders with fills and an arrival price of (average fill − arrival) / arrival · 10⁴,
  sign-flipped for sells, so positive is always worse;
- `implementation_shortfall_bps` = the same, weighted by each order's executed notional (filled size × average fill
  price): the cost of everything executed against the price when it was decided;
- `maker_ratio` = maker fills / fills whose liquidity is known; `fees` per currency, exact;
- `risk_checks_passed` = orders created (each passed the pre-trade checks); `risk_checks_failed` = refusals.

The database aggregates per (instrument, strategy); the overall and per-instrument / per-strategy figures add those
groups up, so no order or trade is loaded into Python. On SQLite, where money is text, prices go through REAL for the
basis-point figures (a float statistic either way) and fees are added up in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, extract, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    Trade,
)
from app.services.trading.analytics import as_utc
from app.services.trading.daily_summary import EXACT

__all__ = ["ExecutionStatistics", "StatisticsReport", "calculate_statistics"]

ZERO = Decimal(0)
TERMINAL = [status for status in OrderStatus if status.is_terminal]
Group = tuple[str, str]  # (instrument_id, strategy_id or "")


@dataclass(frozen=True)
class ExecutionStatistics:
    orders: int = 0
    filled: int = 0
    rejected: int = 0
    fill_rate: float | None = None
    rejection_rate: float | None = None
    average_time_to_fill_s: float | None = None
    average_time_to_ack_s: float | None = None
    slippage_bps: float | None = None
    implementation_shortfall_bps: float | None = None
    maker_ratio: float | None = None
    fees: dict[str, Decimal] = field(default_factory=dict)
    risk_checks_passed: int = 0
    risk_checks_failed: int = 0


@dataclass(frozen=True)
class StatisticsReport:
    start: datetime
    end: datetime
    overall: ExecutionStatistics
    by_instrument: dict[str, ExecutionStatistics]
    by_strategy: dict[str, ExecutionStatistics]


@dataclass
class _Sums:
    """Additive sums of one group; the statistics are ratios of them."""

    orders: int = 0
    finished: int = 0
    filled: int = 0
    rejected: int = 0
    sent: int = 0
    fill_seconds: float = 0.0
    fill_timed: int = 0
    ack_seconds: float = 0.0
    acknowledged: int = 0
    slippage: float = 0.0
    slipped: int = 0
    weighted_slippage: float = 0.0
    notional: float = 0.0
    maker_fills: int = 0
    known_fills: int = 0
    risk_failures: int = 0
    fees: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def add(self, other: _Sums) -> None:
        for item in fields(self):
            if item.name != "fees":
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        with localcontext(EXACT):
            for currency, amount in other.fees.items():
                self.fees[currency] += amount

    def statistics(self) -> ExecutionStatistics:
        def ratio(part: float, whole: float) -> float | None:
            return part / whole if whole else None

        return ExecutionStatistics(
            orders=self.orders,
            filled=self.filled,
            rejected=self.rejected,
            fill_rate=ratio(self.filled, self.finished),
            rejection_rate=ratio(self.rejected, self.sent),
            average_time_to_fill_s=ratio(self.fill_seconds, self.fill_timed),
            average_time_to_ack_s=ratio(self.ack_seconds, self.acknowledged),
            slippage_bps=ratio(self.slippage, self.slipped),
            implementation_shortfall_bps=ratio(self.weighted_slippage, self.notional),
            maker_ratio=ratio(self.maker_fills, self.known_fills),
            fees=dict(self.fees),
            risk_checks_passed=self.orders,
            risk_checks_failed=self.risk_failures,
        )


async def _order_sums(session: AsyncSession, start: datetime, end: datetime, into: dict[Group, _Sums]) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"

    def seconds(later: Any, earlier: Any) -> Any:
        if postgres:
            return extract("epoch", later - earlier)
        # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from strftime, microseconds from the text
        # (julianday's double would lose tens of microseconds).
        whole = cast(func.strftime("%s", later), Integer) - cast(func.strftime("%s", earlier), Integer)
        return whole + (cast(func.substr(later, 20), Float) - cast(func.substr(earlier, 20), Float))

    def number(column: Any) -> Any:
        return column if postgres else cast(column, Float)

    submitted = Order.submitted_at.is_not(None)
    fill_timed = and_(Order.status == OrderStatus.FILLED, Order.finished_at.is_not(None), submitted)
    acknowledged = and_(Order.acknowledged_at.is_not(None), submitted)
    average, arrival = number(Order.average_fill_price), number(Order.arrival_price)
    slipped = and_(Order.filled_size > 0, Order.arrival_price.is_not(None), Order.average_fill_price.is_not(None))
    if not postgres:  # text money: compare as numbers, not strings
        slipped = and_(cast(Order.filled_size, Float) > 0, arrival > 0, average > 0)
    else:
        slipped = and_(slipped, Order.arrival_price > 0)
    direction = case((Order.side == OrderSide.BUY, 1), else_=-1)
    bps = cast((average - arrival) / arrival * 10000 * direction, Float)
    notional = cast(number(Order.filled_size) * average, Float)

    def total(value: Any, where: Any) -> Any:
        return cast(func.coalesce(func.sum(value).filter(where), 0), Float)

    keys = [Order.instrument_id, func.coalesce(Order.strategy_id, "")]
    query = (
        select(
            *keys,
            func.count(),
            func.count().filter(Order.status.in_(TERMINAL)),
            func.count().filter(Order.status == OrderStatus.FILLED),
            func.count().filter(Order.status == OrderStatus.REJECTED),
            func.count().filter(Order.status != OrderStatus.PENDING_SUBMIT),
            total(seconds(Order.finished_at, Order.submitted_at), fill_timed),
            func.count().filter(fill_timed),
            total(seconds(Order.acknowledged_at, Order.submitted_at), acknowledged),
            func.count().filter(acknowledged),
            total(bps, slipped),
            func.count().filter(slipped),
            total(bps * notional, slipped),
            total(notional, slipped),
        )
        .where(
            Order.created_at >= start,
            Order.created_at < end,
            not_(Order.is_external),
            # Orders the pre-trade checks refused are stored (rejected, never sent); they count as risk failures.
            not_(and_(Order.status == OrderStatus.REJECTED, Order.submitted_at.is_(None))),
        )
        .group_by(*keys)
    )
    for instrument_id, strategy_id, *values in await session.execute(query):
        into[(instrument_id, strategy_id)].add(_Sums(*values))


async def _trade_sums(session: AsyncSession, start: datetime, end: datetime, into: dict[Group, _Sums]) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"
    strategy, currency = func.coalesce(Trade.strategy_id, ""), func.coalesce(Trade.fee_currency, "")
    keys = [Trade.instrument_id, strategy, currency]
    in_range = and_(Trade.executed_at >= start, Trade.executed_at < end)
    counts = [
        func.count().filter(Trade.liquidity == Liquidity.MAKER),
        func.count().filter(Trade.liquidity.is_not(None)),
    ]
    if postgres:
        query = select(*keys, *counts, func.sum(Trade.fee)).where(in_range).group_by(*keys)
        for instrument_id, strategy_id, fee_currency, makers, known, fees in await session.execute(query):
            group = into[(instrument_id, strategy_id)]
            group.add(_Sums(maker_fills=makers, known_fills=known, fees={fee_currency: fees}))
        return
    query = select(*keys, Trade.liquidity, Trade.fee).where(in_range)
    for instrument_id, strategy_id, fee_currency, liquidity, fee in await session.execute(query):
        maker = int(liquidity is Liquidity.MAKER)
        known = int(liquidity is not None)
        into[(instrument_id, strategy_id)].add(_Sums(maker_fills=maker, known_fills=known, fees={fee_currency: fee}))


async def _risk_failures(session: AsyncSession, start: datetime, end: datetime, into: dict[Group, _Sums]) -> None:
    keys = [func.coalesce(ExecutionEvent.instrument_id, ""), func.coalesce(ExecutionEvent.strategy_id, "")]
    query = (
        select(*keys, func.count())
        .where(
            ExecutionEvent.event_type == ExecutionEventType.RISK_CHECK_FAILED,
            ExecutionEvent.created_at >= start,
            ExecutionEvent.created_at < end,
        )
        .group_by(*keys)
    )
    for instrument_id, strategy_id, failures in await session.execute(query):
        into[(instrument_id, strategy_id)].add(_Sums(risk_failures=failures))


def _rolled_up(groups: dict[Group, _Sums], key: Callable[[Group], str]) -> dict[str, ExecutionStatistics]:
    totals: dict[str, _Sums] = defaultdict(_Sums)
    for group, sums in groups.items():
        totals[key(group)].add(sums)
    return {name: totals[name].statistics() for name in sorted(totals)}


async def calculate_statistics(session: AsyncSession, start_date: datetime, end_date: datetime) -> StatisticsReport:
    start, end = as_utc(start_date), as_utc(end_date)
    if end <= start:
        raise ValueError("end_date must be after start_date")
    groups: dict[Group, _Sums] = defaultdict(_Sums)
    await _order_sums(session, start, end, groups)
    await _trade_sums(session, start, end, groups)
    await _risk_failures(session, start, end, groups)
    overall = _Sums()
    for sums in groups.values():
        overall.add(sums)
    return StatisticsReport(
        start,
        end,
        overall.statistics(),
        _rolled_up(groups, lambda group: group[0]),
        _rolled_up(groups, lambda group: group[1]),
    )
