"""The database itself refuses duplicate orders, fills and positions (DESIGN.md §4, §10)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, ExecutionEvent, Order, Position, Trade
from app.models.trading import ExecutionAlgorithm, ExecutionEventType, OrderSide, OrderType, PositionSide

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make_order(**fields: Any) -> Order:
    values: dict[str, Any] = {
        "instrument_id": "BTC-USDT",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "size": Decimal("0.1"),
        "price": Decimal("50000"),
    }
    values.update(fields)
    return Order(**values)


def make_trade(order: Order, **fields: Any) -> Trade:
    """A fill of a flushed order (linked by id, so a refused insert leaves no object behind in the session)."""
    values: dict[str, Any] = {
        "order_id": order.id,
        "exchange_trade_id": "t1",
        "instrument_id": order.instrument_id,
        "side": order.side,
        "price": Decimal("50000"),
        "size": Decimal("0.05"),
        "fee": Decimal("0.0000005"),
        "fee_currency": "BTC",
        "executed_at": NOW,
    }
    values.update(fields)
    return Trade(**values)


async def _assert_refused(session: AsyncSession, *rows: object) -> None:
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            session.add_all(rows)
            await session.flush()


async def test_client_order_id_is_unique(db_session: AsyncSession) -> None:
    db_session.add(make_order(client_order_id="abc123"))
    await db_session.flush()
    await _assert_refused(db_session, make_order(client_order_id="abc123"))


async def test_exchange_order_id_is_unique(db_session: AsyncSession) -> None:
    db_session.add(make_order(client_order_id="a1", exchange_order_id="900001"))
    await db_session.flush()
    await _assert_refused(db_session, make_order(client_order_id="a2", exchange_order_id="900001"))


async def test_orders_without_exchange_id_do_not_collide(db_session: AsyncSession) -> None:
    db_session.add_all([make_order(client_order_id="n1"), make_order(client_order_id="n2")])
    await db_session.flush()  # two NULL exchange order ids are fine: neither was acknowledged yet


async def test_a_fill_is_stored_once_per_instrument(db_session: AsyncSession) -> None:
    order = make_order(client_order_id="f1")
    db_session.add(order)
    await db_session.flush()
    db_session.add(make_trade(order))
    await db_session.flush()

    await _assert_refused(db_session, make_trade(order))


async def test_same_trade_id_on_another_instrument_is_a_different_fill(db_session: AsyncSession) -> None:
    btc = make_order(client_order_id="b1")
    eth = make_order(client_order_id="e1", instrument_id="ETH-USDT")
    db_session.add_all([btc, eth])
    await db_session.flush()
    db_session.add_all([make_trade(btc), make_trade(eth)])
    await db_session.flush()


async def test_one_position_per_instrument_and_side(db_session: AsyncSession) -> None:
    db_session.add_all(
        [
            Position(instrument_id="BTC-USDT-SWAP", position_side=PositionSide.LONG),
            Position(instrument_id="BTC-USDT-SWAP", position_side=PositionSide.SHORT),
        ]
    )
    await db_session.flush()
    await _assert_refused(db_session, Position(instrument_id="BTC-USDT-SWAP", position_side=PositionSide.LONG))


async def test_idempotency_key_is_unique(db_session: AsyncSession) -> None:
    db_session.add(make_order(client_order_id="i1", idempotency_key="bot-42"))
    await db_session.flush()
    await _assert_refused(db_session, make_order(client_order_id="i2", idempotency_key="bot-42"))


async def test_order_links_parent_execution_and_events(db_session: AsyncSession) -> None:
    execution = Execution(
        algorithm=ExecutionAlgorithm.TWAP,
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        target_size=Decimal("1"),
        config={"duration": 300, "num_slices": 10},
        slices_total=10,
    )
    child = make_order(client_order_id="c1", execution=execution, strategy_id="s1")
    event = ExecutionEvent(
        event_type=ExecutionEventType.ORDER_CREATED,
        instrument_id="BTC-USDT",
        data={"size": "0.1", "nested": {"ok": True}},
    )
    db_session.add_all([execution, child, event])
    await db_session.flush()
    event.order_id = child.id
    event.execution_id = execution.id
    await db_session.commit()
    db_session.expunge_all()

    loaded = await db_session.get(Execution, execution.id)
    assert loaded is not None
    orders = await loaded.awaitable_attrs.orders
    assert [order.client_order_id for order in orders] == ["c1"]
    assert loaded.config == {"duration": 300, "num_slices": 10}
    stored_event = await db_session.get(ExecutionEvent, event.id)
    assert stored_event is not None
    assert stored_event.data == {"size": "0.1", "nested": {"ok": True}}
    assert stored_event.order_id == child.id


async def test_trade_needs_an_existing_order(db_session: AsyncSession) -> None:
    trade = Trade(
        order_id=987654321,
        exchange_trade_id="orphan",
        instrument_id="BTC-USDT",
        side=OrderSide.SELL,
        price=Decimal("1"),
        size=Decimal("1"),
        executed_at=NOW,
    )
    await _assert_refused(db_session, trade)
