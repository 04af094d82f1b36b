"""The spec's code samples, as written (with `await` on what does I/O), against the simulator and the database."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import Order, OrderSide, OrderStatus, OrderType
from app.services.okx.client import OKXClient
from app.services.okx.simulator import OKXSimulator
from app.services.trading import (
    Account,
    ExecutionRiskControl,
    OrderManager,
    OrderParams,
    OrderTracker,
    PositionManager,
    Signal,
    TradeExecutor,
    TradeRecorder,
)


async def test_the_spec_samples_work_as_written(
    okx: OKXClient, sim: OKXSimulator, db_session: AsyncSession, risk: ExecutionRiskControl
) -> None:
    okx_client = okx
    order_manager = OrderManager(db_session)

    # 2. OrderManager
    order_params = OrderParams(
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.1"),
        price=Decimal("50000"),
        trade_mode="cash",
    )
    order = await order_manager.create_order(order_params)
    active_orders = await order_manager.get_active_orders("BTC-USDT")
    history = await order_manager.get_order_history(
        filters={"instrument_id": "BTC-USDT", "status": OrderStatus.PENDING_SUBMIT}, limit=100
    )
    assert [o.id for o in active_orders] == [order.id] == [o.id for o in history]

    # 5. ExecutionRiskControl, with the spec's (float) config
    risk_config = {
        "max_order_size": 10.0,
        "min_order_size": 0.001,
        "max_order_value": 10000.0,
        "max_price_deviation": 0.05,
        "max_daily_loss": 0.1,
        "max_position_value_pct": 0.5,
    }
    risk_control = ExecutionRiskControl(risk_config)
    risk_control.instruments, risk_control.prices = risk.instruments, risk.prices
    signal = Signal(strategy_id="my_strategy", instrument_id="BTC-USDT", side=OrderSide.BUY, size=Decimal("0.01"))
    account = Account(equity=Decimal("100000"), available={"USDT": Decimal("100000")})
    result = risk_control.pre_trade_check(signal, account)
    assert result.passed, result.reason

    # 1. TradeExecutor and 4. OrderTracker
    order_tracker = OrderTracker(okx_client, order_manager)
    executor = TradeExecutor(
        okx_client=okx_client, order_manager=order_manager, risk_manager=risk_control, order_tracker=order_tracker
    )
    placed = await executor.execute_signal(signal, account, strategy_id="my_strategy")
    updates: list[str] = []

    async def on_update(order: Order, order_data: dict) -> None:  # type: ignore[type-arg]
        updates.append(f"Order {order.id} updated: {order.status}")

    await order_tracker.start_tracking(
        order_id=placed.id, exchange_order_id=placed.exchange_order_id, instrument_id="BTC-USDT", callback=on_update
    )
    await order_tracker.gap_fill()
    order_tracker.stop_tracking(placed.exchange_order_id)
    assert updates and not order_tracker.is_tracking(placed.id)

    # 3. PositionManager
    position_manager = PositionManager(db_session)
    position = await position_manager.get_position("BTC-USDT")
    assert position is not None and position.size == Decimal("0.00999")  # 0.01 less the fee taken in BTC
    pnl = position_manager.calculate_pnl(position, Decimal("60000"))
    assert pnl == Decimal("0.00999") * (Decimal("60000") - position.average_entry_price)  # type: ignore[operator]
    positions = await position_manager.get_all_positions()
    assert [p.instrument_id for p in positions] == ["BTC-USDT"]

    # 6. TradeRecorder
    trade_recorder = TradeRecorder(db_session)
    trade = await trade_recorder.record_trade(
        order_id=order.id,
        trade_id="t123456",
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        price=Decimal("50000"),
        size=Decimal("0.1"),
        fee=Decimal("0.1"),
        fee_currency="USDT",
    )
    assert trade is not None and trade.realized_pnl == Decimal("-0.1")
    # record_trade moved the position in the same unit of work (update_position(trade) is what it calls).
    updated_position = await position_manager.get_position("BTC-USDT")
    assert updated_position is not None and updated_position.size == Decimal("0.10999")  # 0.00999 + 0.1
