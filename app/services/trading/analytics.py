"""Performance metrics, exactly as DESIGN.md §8 defines them (execution statistics: `execution_statistics`).

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
Sums are exact. Whole days are read from `trade_daily_summaries` (kept with every trade, `daily_summary`), only the
partial days at the ends of the range from the trades themselves, so years of history cost a few thousand rows; the
database adds them up on PostgreSQL, Python on SQLite (where money is text). The ratios are floats computed by numpy
from the daily series, which is all they need.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import Trade, TradeDailySummary
from app.services.trading.daily_summary import EXACT, FIELDS, DaySums, sql_sums, sql_utc_day, sums_of

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


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(moment: datetime, *, up: bool) -> datetime:
    floor = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return floor + timedelta(days=1) if up and floor < moment else floor


SummedDays = dict[tuple[date, str], DaySums]  # (UTC day, fee currency) → sums


async def _sum_summaries(
    session: AsyncSession, first: date, end: date, strategy_id: str | None, instrument_id: str | None, into: SummedDays
) -> None:
    """Whole days [first, end) from the daily summaries."""
    summary = TradeDailySummary
    conditions: list[Any] = [summary.day >= first, summary.day < end]
    if strategy_id is not None:
        conditions.append(summary.strategy_id == strategy_id)
    if instrument_id is not None:
        conditions.append(summary.instrument_id == instrument_id)
    if _on_postgres(session):
        aggregates = [
            func.max(summary.best_closing_pnl)
            if name == "best_closing_pnl"
            else func.min(summary.worst_closing_pnl)
            if name == "worst_closing_pnl"
            else func.sum(getattr(summary, name))
            for name in FIELDS
        ]
        query = select(summary.day, summary.fee_currency, *aggregates).group_by(summary.day, summary.fee_currency)
    else:  # money is text on SQLite: add the (few) rows up in Python
        query = select(summary.day, summary.fee_currency, *(getattr(summary, name) for name in FIELDS))
    for day, currency, *values in await session.execute(query.where(*conditions)):
        into[(day, currency)].merge(DaySums(*values))


async def _sum_trades(
    session: AsyncSession,
    ranges: list[tuple[datetime, datetime]],
    strategy_id: str | None,
    instrument_id: str | None,
    into: SummedDays,
) -> None:
    """The partial days at the ends of the range, straight from the trades."""
    conditions: list[Any] = [or_(*(and_(Trade.executed_at >= a, Trade.executed_at < b) for a, b in ranges))]
    if strategy_id is not None:
        conditions.append(Trade.strategy_id == strategy_id)
    if instrument_id is not None:
        conditions.append(Trade.instrument_id == instrument_id)
    if _on_postgres(session):
        keys = [sql_utc_day(), func.coalesce(Trade.fee_currency, "")]
        query = select(*keys, *sql_sums()).where(*conditions).group_by(*keys)
        for day, currency, *values in await session.execute(query):
            into[(day, currency)].merge(DaySums(*values))
        return
    for trade in (await session.execute(select(Trade).where(*conditions))).scalars():
        into[(trade.executed_at.date(), trade.fee_currency or "")].merge(sums_of(trade))


def _on_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def calculate_performance(
    session: AsyncSession,
    start_date: datetime,
    end_date: datetime,
    *,
    strategy_id: str | None = None,
    instrument_id: str | None = None,
    initial_capital: Decimal,
) -> PerformanceMetrics:
    start, end = as_utc(start_date), as_utc(end_date)
    if end <= start:
        raise ValueError("end_date must be after start_date")
    if initial_capital <= 0:
        raise ValueError("initial_capital must be positive")
    summed: SummedDays = defaultdict(DaySums)
    first_whole, end_whole = _midnight(start, up=True), _midnight(end, up=False)
    if first_whole < end_whole:
        await _sum_summaries(session, first_whole.date(), end_whole.date(), strategy_id, instrument_id, summed)
        edges = [(start, first_whole), (end_whole, end)]
    else:
        edges = [(start, end)]
    if edges := [(a, b) for a, b in edges if a < b]:
        await _sum_trades(session, edges, strategy_id, instrument_id, summed)
    totals = DaySums()
    by_day: dict[date, Decimal] = defaultdict(lambda: ZERO)
    fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
    with localcontext(EXACT):
        for (day, currency), sums in summed.items():
            totals.merge(sums)
            by_day[day] += sums.realized_pnl
            fees[currency] += sums.fees

    # The daily series: every UTC day of the range, 0 where nothing traded.
    first_day, last_day = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    pnl = [by_day.get(day, ZERO) for day in days]
    equity_close: list[Decimal] = []
    running = initial_capital
    with localcontext(EXACT):
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
        total_pnl=totals.realized_pnl,
        number_of_trades=totals.trades,
        number_of_closing_trades=totals.closing_trades,
        win_rate=totals.wins / totals.closing_trades if totals.closing_trades else None,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        max_drawdown=max(0.0, max_drawdown),
        profit_factor=float(totals.gross_profit / -totals.gross_loss) if totals.gross_loss < 0 else None,
        average_win=totals.gross_profit / totals.wins if totals.wins else None,
        average_loss=totals.gross_loss / totals.losses if totals.losses else None,
        largest_win=best if (best := totals.best_closing_pnl) is not None and best > 0 else None,
        largest_loss=worst if (worst := totals.worst_closing_pnl) is not None and worst < 0 else None,
        volume=totals.volume,
        fees=dict(fees),
        daily=[DailyPoint(day, value, equity) for day, value, equity in zip(days, pnl, equity_close, strict=True)],
    )
