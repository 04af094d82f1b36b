"""The spec's `pytest tests/test_order_manager.py`: OrderManager against a real database (SQLite and PostgreSQL).

Write-ahead creation, moves through the one order state machine (stale news changes nothing), and the lookups.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEvent, ExecutionEventType, OrderSide, OrderStatus, OrderType
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_state import OrderTrigger

D = Decimal


def _limit(instrument: str = "BTC-USDT", side: OrderSide = OrderSide.BUY) -> OrderParams:
    return OrderParams(instrument, side, OrderType.LIMIT, D("0.5"), D("49000"))


async def _events(session: AsyncSession, order_id: int) -> list[ExecutionEventType]:
    query = select(ExecutionEvent.event_type).where(ExecutionEvent.order_id == order_id).order_by(ExecutionEvent.id)
    return list((await session.execute(query)).scalars())


async def test_create_order_writes_it_ahead_with_its_client_order_id_and_event(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)

    order = await manager.create_order(_limit(), strategy_id="s1", arrival_price=D("49100"))

    assert order.id is not None and order.status is OrderStatus.PENDING_SUBMIT
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", order.client_order_id or "")  # OKX clOrdId rules
    assert (order.size, order.price, order.filled_size, order.arrival_price) == (D("0.5"), D("49000"), 0, D("49100"))
    assert await _events(db_session, order.id) == [ExecutionEventType.ORDER_CREATED]


async def test_transitions_follow_the_state_machine_and_ignore_stale_news(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)
    order = await manager.create_order(_limit())

    assert await manager.transition(order, OrderTrigger.ACCEPTED)
    assert order.status is OrderStatus.LIVE and order.acknowledged_at is not None
    order.filled_size = D("0.5")
    assert await manager.transition(order, OrderTrigger.FILLED)
    assert order.status is OrderStatus.FILLED and order.finished_at is not None

    # A late "live" or "canceled" after the fill is stale: nothing moves, nothing is recorded.
    assert not await manager.transition(order, OrderTrigger.ACCEPTED)
    assert not await manager.transition(order, OrderTrigger.CANCELED)
    await db_session.flush()
    assert order.status is OrderStatus.FILLED
    assert await _events(db_session, order.id) == [
        ExecutionEventType.ORDER_CREATED,
        ExecutionEventType.ORDER_STATUS_CHANGED,
        ExecutionEventType.ORDER_STATUS_CHANGED,
    ]


async def test_a_rejection_keeps_the_exchange_code_and_message(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)
    order = await manager.create_order(_limit())

    await manager.transition(order, OrderTrigger.REJECTED, error_code="51008", error_message="Insufficient balance")

    assert (order.status, order.error_code, order.error_message) == (
        OrderStatus.REJECTED,
        "51008",
        "Insufficient balance",
    )
    assert order.acknowledged_at is None  # the exchange never took it
    assert (await _events(db_session, order.id))[-1] is ExecutionEventType.ORDER_REJECTED


async def test_lookups_active_orders_and_history(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)
    btc = await manager.create_order(_limit("BTC-USDT"), strategy_id="a")
    eth = await manager.create_order(_limit("ETH-USDT", OrderSide.SELL), strategy_id="b")
    done = await manager.create_order(_limit("BTC-USDT"), strategy_id="a")
    await manager.transition(done, OrderTrigger.REJECTED)
    btc.exchange_order_id = "ex-1"
    await db_session.flush()

    assert [o.id for o in await manager.get_active_orders()] == [btc.id, eth.id]
    assert [o.id for o in await manager.get_active_orders("ETH-USDT")] == [eth.id]
    assert (await manager.get_by_client_order_id(eth.client_order_id or "")) is eth
    assert (await manager.get_by_exchange_order_id("ex-1")) is btc
    history = await manager.get_order_history({"strategy_id": "a"}, limit=10)
    assert {o.id for o in history} == {btc.id, done.id}
    assert len(await manager.get_order_history(limit=1)) == 1
    with pytest.raises(ValueError, match="unknown order filter"):
        await manager.get_order_history({"colour": "red"})
