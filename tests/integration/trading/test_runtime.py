"""The trading runtime the service starts: risk view, tracker, dead-man switch, kill switch, clean stop."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.trading import ExecutionEvent, ExecutionEventType, Order, OrderSide, OrderStatus, OrderType, Trade
from app.services.okx.client import OKXClient
from app.services.okx.errors import OKXServiceUnavailable
from app.services.okx.simulator import OKXSimulator
from app.services.trading.executor import TradeExecutor
from app.services.trading.kill_switch import LATEST_STATE, record_trading_state, stored_trading_state
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.risk import ExecutionRiskControl, TradingState
from app.services.trading.runtime import TradingRuntime
from app.services.trading.signal import Account, Signal
from tests.integration.trading.conftest import eventually

D = Decimal


async def test_start_halt_and_stop(
    okx: OKXClient, sim: OKXSimulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    runtime = TradingRuntime(
        okx, factory, ExecutionRiskControl(), ws_private_url=sim.ws_private_url, dead_man_timeout_s=10
    )
    tasks_before = asyncio.all_tasks()
    await runtime.start()
    await asyncio.wait_for(runtime.started.wait(), 10)

    # The risk view was filled from the exchange: no I/O needed on the order path.
    assert {"BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"} <= set(runtime.risk.instruments)
    assert runtime.risk.prices["BTC-USDT"] > 0
    assert runtime.risk.instruments["BTC-USDT-SWAP"].contract_value == D("0.01")
    await eventually(lambda: _true(runtime.healthy()))
    # OKX's cancel-all-after gets armed once the tracker hears the exchange (the next heartbeat at the latest).
    await eventually(lambda: _true("" in sim.rest._dead_man_timers))  # noqa: SLF001

    async with factory() as session:
        executor = TradeExecutor(okx, OrderManager(session), runtime.risk, runtime.tracker)
        resting = await executor.place_order(
            OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.1"), D("45000"))
        )
    canceled = await runtime.set_trading_state(TradingState.HALTED, reason="test")
    refused = runtime.risk.pre_trade_check(
        Signal(strategy_id="s", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("0.01")),
        Account(equity=D("1e6"), available={"USDT": D("1e6")}),
    )

    async with factory() as session:
        order = await session.get(Order, resting.id)
        switch_events = (
            (
                await session.execute(
                    select(ExecutionEvent).where(ExecutionEvent.event_type == ExecutionEventType.KILL_SWITCH_CHANGED)
                )
            )
            .scalars()
            .all()
        )
    assert canceled == 1 and order is not None and order.status is OrderStatus.CANCELED
    assert refused.code == "trading_halted"
    assert [e.data["to"] for e in switch_events] == ["halted"]

    await runtime.stop()
    assert "" not in sim.rest._dead_man_timers  # noqa: SLF001 - disarmed on a clean stop
    assert not runtime.tracker.status.websocket_connected
    ours = ("risk-", "trading-", "order-tracker", "okx-ws", "okx-dead-man")
    leftover = [t.get_name() for t in asyncio.all_tasks() - tasks_before if t.get_name().startswith(ours)]
    assert leftover == []  # (the simulator's own server tasks are not the runtime's)


async def _true(value: bool) -> bool:
    return value


async def test_it_has_not_started_until_the_account_is_read(
    okx: OKXClient, sim: OKXSimulator, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange's balances failing at start-up: the start is retried, and the runtime does not say it has
    started (new orders are held) while its risk checks would read an equity of 0."""
    read_balance = okx.account.get_balance
    failures: list[int] = []

    async def fails_twice() -> object:
        if len(failures) < 2:
            failures.append(1)
            raise OKXServiceUnavailable("the exchange is busy", code="50001")
        return await read_balance()

    monkeypatch.setattr(okx.account, "get_balance", fails_twice)
    runtime = TradingRuntime(okx, factory, ExecutionRiskControl(), ws_private_url=sim.ws_private_url)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.started.wait(), 15)  # retried after 1 s, then 2 s
        assert len(failures) == 2
        assert runtime.account.equity > 0
    finally:
        await runtime.stop()


async def test_start_up_resumes_executions_left_running(
    okx: OKXClient, sim: OKXSimulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    from app.models.base import utcnow
    from app.models.trading import Execution, ExecutionAlgorithm, ExecutionStatus

    async with factory() as session:  # what a killed process left behind
        execution = Execution(
            algorithm=ExecutionAlgorithm.MARKET,
            status=ExecutionStatus.RUNNING,
            instrument_id="BTC-USDT",
            side=OrderSide.BUY,
            target_size=D("0.02"),
            filled_size=D(0),
            config={},
            slices_total=1,
            started_at=utcnow(),
        )
        session.add(execution)
        await session.commit()
    runtime = TradingRuntime(okx, factory, ExecutionRiskControl(), ws_private_url=sim.ws_private_url)
    await runtime.start()
    await asyncio.wait_for(runtime.started.wait(), 10)

    async def completed() -> bool:
        async with factory() as session:
            row = await session.get(Execution, execution.id)
            return row is not None and row.status is ExecutionStatus.COMPLETED

    try:
        await eventually(completed)
    finally:
        await runtime.stop()
    async with factory() as session:
        row = await session.get(Execution, execution.id)
        assert row is not None and row.filled_size == D("0.02")


async def test_a_halt_recorded_elsewhere_is_followed_and_enforced(
    okx: OKXClient, sim: OKXSimulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The operator CLI or another replica halts: this replica stops taking orders within its refresh, and (as the
    leader) cancels what is open. A halt recorded before a restart holds from the start."""
    runtime = TradingRuntime(
        okx, factory, ExecutionRiskControl(), ws_private_url=sim.ws_private_url, price_refresh_s=0.1
    )
    await runtime.start()
    await asyncio.wait_for(runtime.started.wait(), 10)
    async with factory() as session:
        executor = TradeExecutor(okx, OrderManager(session), runtime.risk, runtime.tracker)
        resting = await executor.place_order(
            OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.1"), D("45000"))
        )
        await record_trading_state(session, TradingState.ACTIVE, TradingState.HALTED, reason="drill", source="cli")
        await session.commit()

    await eventually(lambda: _true(runtime.risk.trading_state is TradingState.HALTED))
    await eventually(lambda: _status_is(factory, resting.id, OrderStatus.CANCELED))
    await runtime.stop()

    restarted = TradingRuntime(okx, factory, ExecutionRiskControl(), ws_private_url=sim.ws_private_url)
    await restarted.start()
    await asyncio.wait_for(restarted.started.wait(), 10)
    assert restarted.risk.trading_state is TradingState.HALTED
    await restarted.set_trading_state(TradingState.ACTIVE, reason="drill over")
    await restarted.stop()
    async with factory() as session:
        assert (await stored_trading_state(session)).state is TradingState.ACTIVE  # type: ignore[union-attr]


async def _status_is(factory: async_sessionmaker[AsyncSession], order_id: int, status: OrderStatus) -> bool:
    async with factory() as session:
        order = await session.get(Order, order_id)
        return order is not None and order.status is status


async def test_the_risk_view_reads_todays_realized_pnl_and_open_orders(
    okx: OKXClient, sim: OKXSimulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    """Refreshed every few seconds from the daily summaries and a count, never by loading today's trades."""
    runtime = TradingRuntime(okx, factory, ExecutionRiskControl(), ws_private_url=None, price_refresh_s=0.1)
    await runtime.start()
    await asyncio.wait_for(runtime.started.wait(), 10)
    async with factory() as session:
        executor = TradeExecutor(okx, OrderManager(session), runtime.risk)
        for side, price in ((OrderSide.BUY, "50000"), (OrderSide.SELL, "49000")):
            sim.exchange.set_price("BTC-USDT", D(price), 0)
            order = await executor.place_order(
                OrderParams("BTC-USDT", side, OrderType.MARKET, D("0.1"), target_currency="base_ccy")
            )
            await executor.reconcile_order(order)
        await executor.place_order(OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.1"), D("45000")))
        realized = sum((await session.execute(select(Trade.realized_pnl))).scalars(), D(0))
    assert realized < 0

    await eventually(lambda: _true(runtime.account.daily_realized_pnl == realized))
    await eventually(lambda: _true(runtime.risk.open_orders == 1))
    await runtime.stop()


async def test_the_stored_state_is_the_last_change_by_id(db_session: AsyncSession) -> None:
    """The last change recorded wins, whatever its timestamps; other events do not count."""
    assert await stored_trading_state(db_session) is None
    changes = [
        (TradingState.ACTIVE, TradingState.HALTED),
        (TradingState.HALTED, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.HALTED),
    ]
    ids = [
        await record_trading_state(db_session, before, after, reason=f"step {n}", source="cli")
        for n, (before, after) in enumerate(changes)
    ]
    db_session.add(ExecutionEvent(event_type=ExecutionEventType.ORDER_CREATED, data={"to": "active"}))
    await db_session.commit()
    stored = await stored_trading_state(db_session)
    assert stored is not None
    assert (stored.state, stored.event_id) == (TradingState.HALTED, ids[-1])
    assert (stored.reason, stored.source) == ("step 2", "cli")


@pytest.mark.postgres_only
async def test_reading_the_stored_state_does_not_walk_every_event(db_session: AsyncSession) -> None:
    """Every replica reads the state every few seconds and the events table grows with every order: the read must
    find the switch's events by their type, not filter the whole table walking the primary key (PostgreSQL's plan
    for `ORDER BY id DESC LIMIT 1` without the column's statistics: 10 ms at 24,000 events when the switch was
    never used)."""
    await db_session.execute(
        text(
            "INSERT INTO execution_events (event_type, data, occurred_at, created_at)"
            " SELECT (ARRAY['order_created', 'order_status_changed', 'order_filled'])[1 + n % 3], '{}', now(), now()"
            " FROM generate_series(1, 20000) AS n"
        )
    )
    # As in a young database: the table's size known, its columns' statistics not yet (or no longer) gathered.
    await db_session.execute(text("ANALYZE execution_events"))
    await db_session.execute(text("DELETE FROM pg_statistic WHERE starelid = 'execution_events'::regclass"))
    sql = LATEST_STATE.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    plan = "\n".join((await db_session.execute(text(f"EXPLAIN {sql}"))).scalars())
    assert "ix_execution_events_event_type_created_at" in plan, plan
    assert "pk_execution_events" not in plan, plan
    assert await stored_trading_state(db_session) is None
