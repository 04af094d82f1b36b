"""calculate_performance against a straightforward reference, over random trade histories.

The histories go through the real write path (`TradeRecorder.record_trade`: position arithmetic, fees, the daily
summary), on both backends. The reference below reads the raw trades and applies DESIGN.md §8 with plain loops,
`Decimal` and the `statistics` module: nothing shared with the code under test. Ranges are random, whole-day and
not, with and without the strategy / instrument filters, so both the summary rows and the partial-day edges count.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import InstrumentType, Order, OrderSide, OrderType, Trade, TradeDailySummary, TradeMode
from app.services.trading import daily_summary
from app.services.trading.recorder import TradeRecorder

D = Decimal
START = datetime(2026, 3, 1, tzinfo=UTC)
INSTRUMENTS = {  # instrument → (contract multiplier, type, base price)
    "BTC-USDT-SWAP": (D("0.01"), InstrumentType.SWAP, 60000),
    "ETH-USDT-SWAP": (D("0.1"), InstrumentType.SWAP, 3000),
    "SOL-USDT": (D("1"), InstrumentType.SPOT, 150),
}
STRATEGIES = ["mean-reversion", "momentum", None]


async def _random_history(session: AsyncSession, rng: random.Random, fills: int) -> None:
    recorder = TradeRecorder(session)
    held: dict[str, Decimal] = defaultdict(Decimal)
    for n in range(fills):
        instrument = rng.choice(list(INSTRUMENTS))
        multiplier, kind, base_price = INSTRUMENTS[instrument]
        side = rng.choice([OrderSide.BUY, OrderSide.SELL])
        size = D(rng.randint(1, 300)) / 100
        if kind is InstrumentType.SPOT and side is OrderSide.SELL:
            if held[instrument] <= 0:
                side = OrderSide.BUY
            size = min(size, held[instrument]) if side is OrderSide.SELL else size
        held[instrument] += size if side is OrderSide.BUY else -size
        price = D(base_price) * (1 + D(rng.randint(-500, 500)) / 10000)
        quote_fee = rng.random() < 0.8
        fee = (price * size * multiplier * D("0.0005")).quantize(D("0.00000001")) if quote_fee else D("0.0001")
        currency = "USDT" if quote_fee else rng.choice(["OKB", instrument.split("-")[0]])
        order = Order(
            client_order_id=f"ref{n}",
            instrument_id=instrument,
            instrument_type=kind,
            trade_mode=TradeMode.CASH if kind is InstrumentType.SPOT else TradeMode.CROSS,
            side=side,
            order_type=OrderType.MARKET,
            size=size,
            strategy_id=rng.choice(STRATEGIES),
        )
        session.add(order)
        await session.flush()
        executed_at = START + timedelta(seconds=rng.randint(0, 20 * 86400))
        await recorder.record_trade(
            order.id,
            f"t{n}",
            instrument,
            side,
            price,
            size,
            fee,
            currency,
            executed_at=executed_at,
            multiplier=multiplier,
            instrument_type=kind,
        )


def _reference(
    trades: list[Trade],
    start: datetime,
    end: datetime,
    strategy_id: str | None,
    instrument_id: str | None,
    capital: Decimal,
) -> dict:
    chosen = [
        t
        for t in trades
        if start <= t.executed_at < end
        and (strategy_id is None or t.strategy_id == strategy_id)
        and (instrument_id is None or t.instrument_id == instrument_id)
    ]
    closing = [t for t in chosen if t.closed_size > 0]
    wins = [t.realized_pnl for t in closing if t.realized_pnl > 0]
    losses = [t.realized_pnl for t in closing if t.realized_pnl < 0]
    days: list[date] = []
    day = start.date()
    while day <= (end - timedelta(microseconds=1)).date():
        days.append(day)
        day += timedelta(days=1)
    with localcontext(Context(prec=1000)):  # sums of money are exact, whatever their number of digits
        pnl_by_day = {d: sum((t.realized_pnl for t in chosen if t.executed_at.date() == d), D(0)) for d in days}
        returns, equity, curve = [], capital, [capital]
        for d in days:
            returns.append(float(pnl_by_day[d]) / float(equity))
            equity += pnl_by_day[d]
            curve.append(equity)
        fees: dict[str, Decimal] = {}
        for t in chosen:
            fees[t.fee_currency] = fees.get(t.fee_currency, D(0)) + t.fee
        total_pnl = sum((t.realized_pnl for t in chosen), D(0))
        gross_profit, gross_loss = sum(wins, D(0)), sum(losses, D(0))
        volume = sum((t.price * t.size * INSTRUMENTS[t.instrument_id][0] for t in chosen), D(0))
    peak, deepest = curve[0], 0.0
    for value in curve:
        peak = max(peak, value)
        deepest = max(deepest, float((peak - value) / peak))
    sharpe = sortino = None
    if len(returns) >= 2 and statistics.pstdev(returns) > 0:
        sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if len(returns) >= 2 and downside > 0:
        sortino = statistics.mean(returns) / downside * math.sqrt(365)
    return {
        "total_pnl": total_pnl,
        "number_of_trades": len(chosen),
        "number_of_closing_trades": len(closing),
        "win_rate": len(wins) / len(closing) if closing else None,
        "profit_factor": float(gross_profit / -gross_loss) if losses else None,
        "average_win": gross_profit / len(wins) if wins else None,
        "average_loss": gross_loss / len(losses) if losses else None,
        "largest_win": max(wins) if wins else None,
        "largest_loss": min(losses) if losses else None,
        "volume": volume,
        "fees": fees,
        "daily": [(d, pnl_by_day[d], e) for d, e in zip(days, curve[1:], strict=True)],
        "sharpe_ratio": sharpe,
        "sortino_ratio": sortino,
        "max_drawdown": deepest,
    }


def _random_range(rng: random.Random) -> tuple[datetime, datetime]:
    if rng.random() < 0.4:  # whole days: only summary rows
        first = START + timedelta(days=rng.randint(-2, 18))
        return first, first + timedelta(days=rng.randint(1, 10))
    first = START + timedelta(seconds=rng.randint(-86400, 19 * 86400))
    return first, first + timedelta(seconds=rng.randint(1, 8 * 86400))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_performance_matches_a_reference_over_random_histories(db_session: AsyncSession, seed: int) -> None:
    rng = random.Random(seed)
    await _random_history(db_session, rng, fills=120)
    trades = list((await db_session.execute(select(Trade))).scalars())
    assert len(trades) == 120
    recorder = TradeRecorder(db_session)
    cases = [(START - timedelta(days=1), START + timedelta(days=22), None, None)]  # everything
    for _ in range(12):
        cases.append((*_random_range(rng), rng.choice(STRATEGIES), rng.choice([None, *INSTRUMENTS])))

    for start, end, strategy_id, instrument_id in cases:
        capital = D(rng.choice([1000, 50000, 1000000]))
        got = await recorder.calculate_performance(start, end, strategy_id, instrument_id, initial_capital=capital)
        want = _reference(trades, start, end, strategy_id, instrument_id, capital)
        where = f"{start} → {end}, strategy {strategy_id}, instrument {instrument_id}"
        for name in ("total_pnl", "number_of_trades", "number_of_closing_trades", "volume", "fees"):
            assert getattr(got, name) == want[name], f"{name} over {where}"
        for name in ("average_win", "average_loss", "largest_win", "largest_loss"):
            assert getattr(got, name) == want[name], f"{name} over {where}"
        assert [(p.day, p.pnl, p.equity) for p in got.daily] == want["daily"], where
        for name in ("win_rate", "profit_factor", "sharpe_ratio", "sortino_ratio", "max_drawdown"):
            expected = want[name]
            actual = getattr(got, name)
            assert (actual is None) == (expected is None), f"{name} over {where}: {actual} vs {expected}"
            if expected is not None:
                assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12), f"{name} over {where}"


async def test_rebuilding_the_summaries_from_the_trades_changes_nothing(db_session: AsyncSession) -> None:
    """The summaries kept fill by fill equal those recomputed from the trades (the bulk-load path)."""
    await _random_history(db_session, random.Random(7), fills=80)

    async def snapshot() -> list[tuple]:
        rows = await db_session.execute(select(TradeDailySummary))
        return sorted(tuple(getattr(row, c.key) for c in TradeDailySummary.__table__.columns) for row in rows.scalars())

    kept = await snapshot()
    db_session.expunge_all()
    assert await daily_summary.rebuild(db_session) == len(kept)
    db_session.expunge_all()
    assert await snapshot() == kept
