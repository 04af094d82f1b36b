"""Performance metrics and execution statistics, exactly as DESIGN.md §8 defines them.

Over [start, end), UTC:
- `total_pnl` = the trades' net `realized_pnl` summed (exact Decimal);
- `win_rate` = closing trades (`closed_size` > 0) with `realized_pnl` > 0 / closing trades (None without any);
- daily return r = the UTC day's net PnL (0 on a day without trades) / equity at the start of that day, where equity
  starts at `initial_capital` and adds each day's PnL; every UTC day of the range counts;
- `sharpe_ratio` = mean(r) / std(r, ddof=1) · √365 (None with fewer than two days or zero variance);
- `sortino_ratio` = mean(r) / √mean(min(r, 0)²) · √365 (None with no downside: it would be infinite);
- `max_drawdown` = the deepest fall of the equity curve from its running peak, as a fraction (0 when it never falls);
- `profit_factor` = gross profit / gross loss of closing trades (None without losses); average and largest win and
  loss over closing trades; fees per currency; volume in quote (size × contract value × price).
Sums are exact and done by the database on PostgreSQL (per UTC day); the ratios are floats computed by numpy from the
daily series, which is all they need. On SQLite, where money is stored as text, the per-day sums are made in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Numeric, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import Position, PositionSide, Trade

__all__ = ["DailyPoint", "PerformanceMetrics", "calculate_performance"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class DailyPoint:
    day: date
    pnl: Decimal
    equity: Decimal


@dataclass(frozen=True)
class PerformanceMetrics:
    start: datetime
    end: datetime
    initial_capital: Decimal
    total_pnl: Decimal = ZERO
    number_of_trades: int = 0
    number_of_closing_trades: int = 0
    win_rate: float | None = None
    sharpe_ratio: float | None = None
    sortino_ratio: float | None = None
    max_drawdown: float = 0.0
    profit_factor: float | None = None
    average_win: Decimal | None = None
    average_loss: Decimal | None = None
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    volume: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    daily: list[DailyPoint] = field(default_factory=list)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class _Day:
    pnl: Decimal = ZERO


@dataclass
class _Totals:
    trades: int = 0
    closing: int = 0
    wins: int = 0
    losses: int = 0
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    volume: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    days: dict[date, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))


def _filters(start: datetime, end: datetime, strategy_id: str | None, instrument_id: str | None) -> list[Any]:
    conditions: list[Any] = [Trade.executed_at >= start, Trade.executed_at < end]
    if strategy_id is not None:
        conditions.append(Trade.strategy_id == strategy_id)
    if instrument_id is not None:
        conditions.append(Trade.instrument_id == instrument_id)
    return conditions


async def _totals_postgres(session: AsyncSession, conditions: list[Any]) -> _Totals:
    totals = _Totals()
    multiplier = func.coalesce(Position.contract_multiplier, literal(1, Numeric()))
    joined = (
        select(Trade)
        .outerjoin(
            Position, and_(Position.instrument_id == Trade.instrument_id, Position.position_side == PositionSide.NET)
        )
        .where(*conditions)
        .subquery()
    )
    day = func.date_trunc("day", func.timezone("UTC", joined.c.executed_at)).label("day")
    closing = joined.c.closed_size > 0
    pnl = cast(joined.c.realized_pnl, Numeric())
    rows = await session.execute(
        select(
            day,
            func.sum(pnl),
            func.count(),
            func.count().filter(closing),
            func.count().filter(and_(closing, pnl > 0)),
            func.count().filter(and_(closing, pnl < 0)),
            func.coalesce(func.sum(case((and_(closing, pnl > 0), pnl), else_=0)), 0),
            func.coalesce(func.sum(case((and_(closing, pnl < 0), pnl), else_=0)), 0),
            func.max(case((closing, pnl))),
            func.min(case((closing, pnl))),
        )
        .select_from(joined)
        .group_by(day)
    )
    for row in rows:
        totals.days[row[0].date()] += row[1]
        totals.trades += row[2]
        totals.closing += row[3]
        totals.wins += row[4]
        totals.losses += row[5]
        totals.gross_profit += row[6]
        totals.gross_loss += row[7]
        if row[8] is not None:
            totals.largest_win = row[8] if totals.largest_win is None else max(totals.largest_win, row[8])
            totals.largest_loss = row[9] if totals.largest_loss is None else min(totals.largest_loss, row[9])
    volume = await session.execute(
        select(func.coalesce(func.sum(Trade.price * Trade.size * multiplier), 0))
        .select_from(Trade)
        .outerjoin(
            Position, and_(Position.instrument_id == Trade.instrument_id, Position.position_side == PositionSide.NET)
        )
        .where(*conditions)
    )
    totals.volume = Decimal(volume.scalar_one())
    fees = await session.execute(
        select(Trade.fee_currency, func.sum(Trade.fee)).where(*conditions).group_by(Trade.fee_currency)
    )
    for currency, amount in fees:
        totals.fees[currency or ""] += amount
    return totals


async def _totals_python(session: AsyncSession, conditions: list[Any]) -> _Totals:
    """SQLite keeps money as exact text, which SQL cannot sum without going through floats: sum here instead."""
    totals = _Totals()
    multipliers = dict(
        (
            await session.execute(
                select(Position.instrument_id, Position.contract_multiplier).where(
                    Position.position_side == PositionSide.NET
                )
            )
        ).all()
    )
    rows = await session.execute(
        select(
            Trade.executed_at,
            Trade.realized_pnl,
            Trade.closed_size,
            Trade.price,
            Trade.size,
            Trade.fee,
            Trade.fee_currency,
            Trade.instrument_id,
        ).where(*conditions)
    )
    for executed_at, pnl, closed_size, price, size, fee, fee_currency, instrument_id in rows:
        totals.days[_utc(executed_at).date()] += pnl
        totals.trades += 1
        totals.volume += price * size * multipliers.get(instrument_id, Decimal(1))
        totals.fees[fee_currency or ""] += fee
        if closed_size > 0:
            totals.closing += 1
            if pnl > 0:
                totals.wins += 1
                totals.gross_profit += pnl
            elif pnl < 0:
                totals.losses += 1
                totals.gross_loss += pnl
            totals.largest_win = pnl if totals.largest_win is None else max(totals.largest_win, pnl)
            totals.largest_loss = pnl if totals.largest_loss is None else min(totals.largest_loss, pnl)
    return totals


async def calculate_performance(
    session: AsyncSession,
    start_date: datetime,
    end_date: datetime,
    *,
    strategy_id: str | None = None,
    instrument_id: str | None = None,
    initial_capital: Decimal,
) -> PerformanceMetrics:
    start, end = _utc(start_date), _utc(end_date)
    if end <= start:
        raise ValueError("end_date must be after start_date")
    if initial_capital <= 0:
        raise ValueError("initial_capital must be positive")
    conditions = _filters(start, end, strategy_id, instrument_id)
    on_postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    totals = await (_totals_postgres if on_postgres else _totals_python)(session, conditions)

    # The daily series: every UTC day of the range, 0 where nothing traded.
    first_day, last_day = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    pnl = [totals.days.get(day, ZERO) for day in days]
    equity_close: list[Decimal] = []
    running = initial_capital
    for value in pnl:
        running += value
        equity_close.append(running)

    equity_open = np.array([float(initial_capital)] + [float(e) for e in equity_close[:-1]])
    returns = np.array([float(p) for p in pnl]) / equity_open
    sharpe = sortino = None
    if len(returns) >= 2:
        deviation = float(np.std(returns, ddof=1))
        if deviation > 0:
            sharpe = float(np.mean(returns)) / deviation * math.sqrt(365)
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        if downside > 0:
            sortino = float(np.mean(returns)) / downside * math.sqrt(365)
    curve = np.array([float(initial_capital)] + [float(e) for e in equity_close])
    peaks = np.maximum.accumulate(curve)
    max_drawdown = float(np.max((peaks - curve) / peaks)) if len(curve) else 0.0

    return PerformanceMetrics(
        start=start,
        end=end,
        initial_capital=initial_capital,
        total_pnl=sum(pnl, ZERO),
        number_of_trades=totals.trades,
        number_of_closing_trades=totals.closing,
        win_rate=totals.wins / totals.closing if totals.closing else None,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        max_drawdown=max(0.0, max_drawdown),
        profit_factor=float(totals.gross_profit / -totals.gross_loss) if totals.gross_loss < 0 else None,
        average_win=totals.gross_profit / totals.wins if totals.wins else None,
        average_loss=totals.gross_loss / totals.losses if totals.losses else None,
        largest_win=totals.largest_win if totals.largest_win is not None and totals.largest_win > 0 else None,
        largest_loss=totals.largest_loss if totals.largest_loss is not None and totals.largest_loss < 0 else None,
        volume=totals.volume,
        fees=dict(totals.fees),
        daily=[DailyPoint(day, value, equity) for day, value, equity in zip(days, pnl, equity_close, strict=True)],
    )


@dataclass(frozen=True)
class ExecutionStatistics:
    """The spec's "Monitoring" figures over the orders created in a range (see `calculate_statistics`)."""

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


def _statistics(orders: list[Any], trades: list[Any], risk_failures: int) -> ExecutionStatistics:
    from app.models.trading import Liquidity, OrderSide, OrderStatus

    finished = [o for o in orders if o.status.is_terminal]
    sent = [o for o in orders if o.status is not OrderStatus.PENDING_SUBMIT]
    filled = [o for o in orders if o.status is OrderStatus.FILLED]
    rejected = [o for o in orders if o.status is OrderStatus.REJECTED]
    fill_times = [(o.finished_at - o.submitted_at).total_seconds() for o in filled if o.finished_at and o.submitted_at]
    ack_times = [
        (o.acknowledged_at - o.submitted_at).total_seconds() for o in orders if o.acknowledged_at and o.submitted_at
    ]
    slipped = [o for o in orders if o.filled_size > 0 and o.arrival_price and o.average_fill_price]
    # Slippage: how much worse than the price when the order was decided, in basis points (positive = worse).
    per_order = [
        float(
            (o.average_fill_price - o.arrival_price) / o.arrival_price * 10_000 * (1 if o.side is OrderSide.BUY else -1)
        )
        for o in slipped
    ]
    notionals = [float(o.filled_size * o.average_fill_price) for o in slipped]
    known = [t for t in trades if t.liquidity is not None]
    fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for trade in trades:
        fees[trade.fee_currency or ""] += trade.fee
    return ExecutionStatistics(
        orders=len(orders),
        filled=len(filled),
        rejected=len(rejected),
        fill_rate=len(filled) / len(finished) if finished else None,
        rejection_rate=len(rejected) / len(sent) if sent else None,
        average_time_to_fill_s=statistics_mean(fill_times),
        average_time_to_ack_s=statistics_mean(ack_times),
        slippage_bps=statistics_mean(per_order),
        # Shortfall of everything executed against its arrival price, weighted by what was executed.
        implementation_shortfall_bps=(float(np.average(per_order, weights=notionals)) if per_order else None),
        maker_ratio=sum(t.liquidity is Liquidity.MAKER for t in known) / len(known) if known else None,
        fees=dict(fees),
        risk_checks_passed=len(orders),
        risk_checks_failed=risk_failures,
    )


def statistics_mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


async def calculate_statistics(session: AsyncSession, start_date: datetime, end_date: datetime) -> StatisticsReport:
    """Execution statistics overall, by instrument and by strategy, for orders created in [start, end).
    (Orders found on the exchange but not created here are left out: they were not ours to execute.)"""
    from app.models.trading import ExecutionEvent, ExecutionEventType, Order

    start, end = _utc(start_date), _utc(end_date)
    if end <= start:
        raise ValueError("end_date must be after start_date")
    orders = list(
        (
            await session.execute(
                select(Order).where(Order.created_at >= start, Order.created_at < end, Order.is_external.is_(False))
            )
        ).scalars()
    )
    trades = list(
        (await session.execute(select(Trade).where(Trade.executed_at >= start, Trade.executed_at < end))).scalars()
    )
    failures = list(
        (
            await session.execute(
                select(ExecutionEvent.instrument_id, ExecutionEvent.strategy_id).where(
                    ExecutionEvent.event_type == ExecutionEventType.RISK_CHECK_FAILED,
                    ExecutionEvent.created_at >= start,
                    ExecutionEvent.created_at < end,
                )
            )
        ).all()
    )

    def grouped(key: str) -> dict[str, ExecutionStatistics]:
        names = {getattr(o, key) or "" for o in orders} | {getattr(t, key) or "" for t in trades}
        names |= {(row[0] if key == "instrument_id" else row[1]) or "" for row in failures}
        return {
            name: _statistics(
                [o for o in orders if (getattr(o, key) or "") == name],
                [t for t in trades if (getattr(t, key) or "") == name],
                sum(1 for row in failures if ((row[0] if key == "instrument_id" else row[1]) or "") == name),
            )
            for name in sorted(names)
        }

    return StatisticsReport(
        start, end, _statistics(orders, trades, len(failures)), grouped("instrument_id"), grouped("strategy_id")
    )
