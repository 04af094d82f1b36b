"""The spec's `pytest tests/test_position_manager.py`: PositionManager against a real database (SQLite and
PostgreSQL): average-cost accounting (DESIGN.md §5) on a swap, computed by hand, and the unrealized PnL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import InstrumentType, Order, OrderSide, OrderType, Position, Trade, TradeMode
from app.services.trading.position_manager import PositionManager

D = Decimal
SWAP = "BTC-USDT-SWAP"
CT_VAL = D("0.01")  # BTC per contract


async def _fill(session: AsyncSession, side: OrderSide, contracts: str, price: str) -> tuple[Position, Decimal]:
    order = Order(instrument_id=SWAP, side=side, order_type=OrderType.MARKET, size=D(contracts))
    session.add(order)
    await session.flush()
    trade = Trade(
        order_id=order.id,
        exchange_trade_id=f"t{order.id}",
        instrument_id=SWAP,
        side=side,
        price=D(price),
        size=D(contracts),
        contract_multiplier=CT_VAL,
        executed_at=datetime.now(UTC),
    )
    session.add(trade)
    await session.flush()
    position, effect = await PositionManager(session).update_position(
        trade, multiplier=CT_VAL, instrument_type=InstrumentType.SWAP, trade_mode=TradeMode.CROSS
    )
    return position, effect.realized


async def test_open_add_reduce_and_flip_at_average_cost(db_session: AsyncSession) -> None:
    position, realized = await _fill(db_session, OrderSide.BUY, "10", "50000")
    assert (position.size, position.average_entry_price, realized) == (D("10"), D("50000"), 0)

    position, _ = await _fill(db_session, OrderSide.BUY, "10", "51000")  # average (10·50000 + 10·51000) / 20
    assert (position.size, position.average_entry_price) == (D("20"), D("50500"))

    position, realized = await _fill(db_session, OrderSide.SELL, "5", "52000")  # 5 × 0.01 × (52000 − 50500)
    assert (position.size, position.average_entry_price, realized) == (D("15"), D("50500"), D("75"))

    position, realized = await _fill(db_session, OrderSide.SELL, "25", "50000")  # closes 15 (−75), opens 10 short
    assert realized == D("-75")
    assert (position.size, position.average_entry_price) == (D("-10"), D("50000"))
    assert position.realized_pnl == D("0")  # +75 − 75


async def test_calculate_pnl_and_closed_positions(db_session: AsyncSession) -> None:
    manager = PositionManager(db_session)
    position, _ = await _fill(db_session, OrderSide.SELL, "4", "50000")

    assert manager.calculate_pnl(position, D("49000")) == D("40")  # short 4 × 0.01 × (50000 − 49000)
    assert manager.calculate_pnl(position, D("50500")) == D("-20")

    position, realized = await _fill(db_session, OrderSide.BUY, "4", "49500")
    assert (position.size, position.average_entry_price, realized) == (D("0"), None, D("20"))
    assert position.closed_at is not None
    assert await manager.get_all_positions() == []
    assert [p.instrument_id for p in await manager.get_all_positions(include_closed=True)] == [SWAP]
    assert (await manager.get_position(SWAP)) is position
