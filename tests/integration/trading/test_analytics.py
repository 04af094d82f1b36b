"""Performance metrics computed by hand from DESIGN.md §8's definitions, on both backends, and their edge cases."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import Order, OrderSide, OrderType, Position, Trade
from app.services.trading import daily_summary
from app.services.trading.recorder import TradeRecorder

D = Decimal
DAY1 = datetime(2026, 11, 1, tzinfo=UTC)


async def _seed(session: AsyncSession, trades: list[tuple[datetime, str, str, str, str]]) -> None:
    """(executed_at, realized_pnl, closed_size, fee, fee_currency) per trade, on one order."""
    order = Order(
        client_order_id="an1",
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=D("1"),
        price=D("100"),
    )
    session.add(order)
    session.add(Position(instrument_id="BTC-USDT", size=D("0")))
    await session.flush()
    for n, (executed_at, pnl, closed, fee, currency) in enumerate(trades):
        trade = Trade(
            order_id=order.id,
            exchange_trade_id=f"an{n}",
            instrument_id="BTC-USDT",
            side=OrderSide.BUY,
            price=D("100"),
            size=D("0.5"),
            fee=D(fee),
            fee_currency=currency,
            realized_pnl=D(pnl),
            closed_size=D(closed),
            executed_at=executed_at,
        )
        session.add(trade)
        await session.flush()
        await daily_summary.add_trade(session, trade)  # what TradeRecorder.record_trade does with every fill
    await session.flush()


async def test_metrics_match_the_definitions(db_session: AsyncSession) -> None:
    await _seed(
        db_session,
        [
            (DAY1 + timedelta(hours=1), "-1", "0", "1", "USDT"),  # an opening trade: its fee only, not a closing trade
            (DAY1 + timedelta(hours=5), "100", "0.5", "0.0001", "BTC"),  # closes at a profit
            (DAY1 + timedelta(days=2, hours=3), "-50", "0.5", "2", "USDT"),  # closes at a loss
            (DAY1 + timedelta(days=5), "999", "1", "0", "USDT"),  # outside the range
        ],
    )

    metrics = await TradeRecorder(db_session).calculate_performance(
        DAY1, DAY1 + timedelta(days=3), initial_capital=D("1000")
    )

    # Daily PnL 99, 0, -50 on equity 1000, 1099, 1099 at the start of each day.
    returns = [99 / 1000, 0 / 1099, -50 / 1099]
    assert [p.pnl for p in metrics.daily] == [D("99"), D("0"), D("-50")]
    assert [p.equity for p in metrics.daily] == [D("1099"), D("1099"), D("1049")]
    assert metrics.total_pnl == D("49")
    assert (metrics.number_of_trades, metrics.number_of_closing_trades) == (3, 2)
    assert metrics.win_rate == 0.5
    assert metrics.sharpe_ratio == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / 3)
    assert metrics.sortino_ratio == pytest.approx(statistics.mean(returns) / downside * math.sqrt(365))
    assert metrics.max_drawdown == pytest.approx(50 / 1099)
    assert metrics.profit_factor == 2.0
    assert (metrics.average_win, metrics.average_loss) == (D("100"), D("-50"))
    assert (metrics.largest_win, metrics.largest_loss) == (D("100"), D("-50"))
    assert metrics.fees == {"USDT": D("3"), "BTC": D("0.0001")}  # several fee currencies, each its own
    assert metrics.volume == D("150")  # 3 trades × 0.5 × 100


async def test_no_trades(db_session: AsyncSession) -> None:
    metrics = await TradeRecorder(db_session).calculate_performance(
        DAY1, DAY1 + timedelta(days=7), initial_capital=D("1000")
    )

    assert (metrics.total_pnl, metrics.number_of_trades, metrics.win_rate) == (D(0), 0, None)
    assert (metrics.sharpe_ratio, metrics.sortino_ratio, metrics.max_drawdown) == (None, None, 0.0)
    assert metrics.profit_factor is None and metrics.fees == {}
    assert len(metrics.daily) == 7 and {p.equity for p in metrics.daily} == {D("1000")}


async def test_one_trade_and_all_wins(db_session: AsyncSession) -> None:
    await _seed(db_session, [(DAY1 + timedelta(hours=2), "10", "1", "0", "USDT")])

    one_day = await TradeRecorder(db_session).calculate_performance(
        DAY1, DAY1 + timedelta(days=1), initial_capital=D("1000")
    )
    week = await TradeRecorder(db_session).calculate_performance(
        DAY1, DAY1 + timedelta(days=7), initial_capital=D("1000")
    )

    assert one_day.sharpe_ratio is None  # one day of returns has no standard deviation
    assert (one_day.win_rate, one_day.profit_factor, one_day.largest_loss) == (1.0, None, None)
    assert week.sortino_ratio is None  # all wins: no downside, the ratio would be infinite
    assert week.sharpe_ratio is not None and week.sharpe_ratio > 0
    assert week.max_drawdown == 0.0


async def test_a_range_with_no_trades_inside(db_session: AsyncSession) -> None:
    await _seed(db_session, [(DAY1, "10", "1", "0", "USDT")])

    later = await TradeRecorder(db_session).calculate_performance(
        DAY1 + timedelta(days=10), DAY1 + timedelta(days=12), initial_capital=D("1000")
    )

    assert (later.total_pnl, later.number_of_trades) == (D(0), 0)


async def test_bad_ranges_are_refused(db_session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="after"):
        await TradeRecorder(db_session).calculate_performance(DAY1, DAY1)
