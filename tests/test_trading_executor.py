"""The spec's `pytest tests/test_trading_executor.py`: TradeExecutor through the OKX client to the simulator (real
HTTP) and a real database (SQLite and PostgreSQL): signals, risk refusals, cancel and modify."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEvent, ExecutionEventType, OrderSide, OrderStatus, OrderType
from app.services.okx.simulator import OKXSimulator
from app.services.trading.errors import OrderNotCancelable, RiskRejected
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderParams
from app.services.trading.signal import Account, Signal
from tests.integration.trading.conftest import executor, okx, risk, sim  # noqa: F401  (fixtures)

D = Decimal
ACCOUNT = Account(equity=D("1000000"), available={"USDT": D("1000000"), "BTC": D("10")})


async def test_execute_signal_places_a_market_order_that_fills(executor: TradeExecutor) -> None:  # noqa: F811
    signal = Signal(strategy_id="spec", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("0.01"))

    order = await executor.reconcile_order(await executor.execute_signal(signal, ACCOUNT))

    assert (order.status, order.filled_size, order.strategy_id) == (OrderStatus.FILLED, D("0.01"), "spec")
    assert order.arrival_price is not None and order.average_fill_price is not None
    assert order.exchange_order_id is not None


async def test_a_signal_failing_the_risk_checks_is_refused_and_recorded(
    executor: TradeExecutor,  # noqa: F811
    db_session: AsyncSession,
) -> None:
    too_big = Signal(strategy_id="spec", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("1000"))

    with pytest.raises(RiskRejected) as refused:
        await executor.execute_signal(too_big, ACCOUNT)

    assert refused.value.code == "order_size_too_large"
    events = await db_session.execute(
        select(ExecutionEvent.data).where(ExecutionEvent.event_type == ExecutionEventType.RISK_CHECK_FAILED)
    )
    assert [data["code"] for data in events.scalars()] == ["order_size_too_large"]


async def test_modify_then_cancel_a_resting_order(executor: TradeExecutor, sim: OKXSimulator) -> None:  # noqa: F811
    order = await executor.place_order(
        OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.02"), D("48000")), strategy_id="spec"
    )
    assert order.status is OrderStatus.LIVE

    order = await executor.modify_order(order.id, new_price=D("48500"))
    assert (order.status, order.price) == (OrderStatus.LIVE, D("48500"))
    [on_exchange] = [o for o in sim.exchange.state()["orders"] if o["clOrdId"] == order.client_order_id]
    assert D(on_exchange["px"]) == D("48500")

    order = await executor.cancel_order(order.id)
    assert order.status is OrderStatus.CANCELED
    with pytest.raises(OrderNotCancelable):
        await executor.cancel_order(order.id)
