"""The order lifecycle and the position accounting end to end: executor → OKXClient → simulator, into the database.

Prices are steered with the simulator's price control so that orders fill as makers at their own limit prices:
every expected number below is computed by hand from those prices and OKX's fee rates.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    InstrumentType,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Trade,
    TradeMode,
)
from app.services.okx.client import OKXClient
from app.services.okx.simulator import OKXSimulator
from app.services.okx.websocket import OKXWebSocket
from app.services.trading.errors import OrderNotCancelable, RiskRejected
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_state import OrderTrigger
from app.services.trading.risk import RiskCode, TradingState
from app.services.trading.signal import Account, Signal

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def limit(inst: str, side: OrderSide, size: str, price: str) -> OrderParams:
    swap = inst.endswith("-SWAP")
    return OrderParams(
        inst,
        side,
        OrderType.LIMIT,
        D(size),
        D(price),
        trade_mode=TradeMode.CROSS if swap else TradeMode.CASH,
        instrument_type=InstrumentType.SWAP if swap else InstrumentType.SPOT,
    )


async def fill_at(executor: TradeExecutor, sim: OKXSimulator, order: Order, move_to: str) -> Order:
    """Move the market through the order's price, then let the executor learn what happened."""
    sim.exchange.set_price(order.instrument_id, D(move_to), sim.now_ms())
    return await executor.reconcile_order(order)


async def trades_of(session: AsyncSession, order: Order) -> list[Trade]:
    return list((await session.execute(select(Trade).where(Trade.order_id == order.id).order_by(Trade.id))).scalars())


async def test_market_buy(executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession) -> None:
    params = OrderParams("BTC-USDT", BUY, OrderType.MARKET, D("0.01"), target_currency="base_ccy")

    order = await executor.place_order(params, strategy_id="s1")
    order = await executor.reconcile_order(order)

    [sim_order] = [o for o in sim.exchange.state()["orders"] if o["clOrdId"] == order.client_order_id]
    [sim_fill] = sim_order["fills"]
    [trade] = await trades_of(db_session, order)
    price = D(sim_fill["fillPx"])
    assert (order.status, order.filled_size, order.average_fill_price) == (OrderStatus.FILLED, D("0.01"), price)
    assert order.exchange_order_id == sim_order["ordId"]
    assert order.acknowledged_at is not None and order.submitted_at is not None
    assert (trade.exchange_trade_id, trade.price, trade.size) == (sim_fill["tradeId"], price, D("0.01"))
    assert (trade.fee, trade.fee_currency, trade.liquidity) == (D("0.00001"), "BTC", Liquidity.TAKER)  # 0.1 % taker
    assert trade.realized_pnl == -(D("0.00001") * price)  # an opening trade realizes only its fee
    position = (await db_session.execute(select(Position).where(Position.instrument_id == "BTC-USDT"))).scalar_one()
    # What the exchange credited: the size less the fee it took in BTC, at the fill price.
    assert (position.size, position.average_entry_price) == (D("0.00999"), price)


async def test_a_spot_position_bought_with_a_fee_in_base_sells_out_to_exactly_flat(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    """A spot buy's fee is taken in the base currency: the position is what the exchange credited, so selling all
    of it is accepted and closes it, with nothing left over and every fee counted once."""
    btc_before = sim.exchange.wallets["BTC"].cash
    bought = await executor.reconcile_order(
        await executor.place_order(
            OrderParams("BTC-USDT", BUY, OrderType.MARKET, D("0.01"), target_currency="base_ccy")
        )
    )
    position = (await db_session.execute(select(Position).where(Position.instrument_id == "BTC-USDT"))).scalar_one()
    assert position.size == sim.exchange.wallets["BTC"].cash - btc_before == D("0.00999")

    sold = await executor.reconcile_order(
        await executor.place_order(OrderParams("BTC-USDT", SELL, OrderType.MARKET, position.size))
    )

    assert sold.status is OrderStatus.FILLED, sold.error_message  # not refused for want of BTC
    await db_session.refresh(position)
    assert position.size == 0 and position.closed_at is not None  # nothing left open for ever
    assert sim.exchange.wallets["BTC"].cash == btc_before
    trades = await trades_of(db_session, bought) + await trades_of(db_session, sold)
    buy_price, sell_price = trades[0].price, trades[1].price
    spent = D("0.01") * buy_price
    received = D("0.00999") * sell_price - trades[1].fee  # the sell's fee is in USDT
    assert sum(t.realized_pnl for t in trades) == received - spent  # exactly what the account gained or lost


async def test_limit_partially_filled_then_canceled(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    order = await executor.place_order(limit("BTC-USDT", BUY, "3", "49000"))
    assert order.status is OrderStatus.LIVE

    order = await fill_at(executor, sim, order, "48995")  # only part of the synthetic liquidity crosses 49000
    assert order.status is OrderStatus.PARTIALLY_FILLED
    partial = order.filled_size
    order = await executor.cancel_order(order.id)

    trades = await trades_of(db_session, order)
    assert order.status is OrderStatus.CANCELED
    assert 0 < partial < 3 and order.filled_size == partial == sum(t.size for t in trades)
    assert all(t.price == D("49000") and t.liquidity is Liquidity.MAKER for t in trades)
    assert sum(t.fee for t in trades) == partial * D("0.0008")
    with pytest.raises(OrderNotCancelable):
        await executor.cancel_order(order.id)
    events = (
        (
            await db_session.execute(
                select(ExecutionEvent.event_type).where(ExecutionEvent.order_id == order.id).order_by(ExecutionEvent.id)
            )
        )
        .scalars()
        .all()
    )
    assert events[0] is ExecutionEventType.ORDER_CREATED
    assert ExecutionEventType.ORDER_FILLED in events and events[-1] is ExecutionEventType.ORDER_CANCELED


async def test_scale_in_partial_close_and_flip_on_a_swap(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    """Contracts of 0.01 BTC, maker fee 0.02 %, every fill at its limit price."""
    inst = "BTC-USDT-SWAP"
    first = await fill_at(executor, sim, await executor.place_order(limit(inst, BUY, "10", "49000")), "48900")
    second = await fill_at(executor, sim, await executor.place_order(limit(inst, BUY, "30", "48000")), "47900")
    close = await fill_at(executor, sim, await executor.place_order(limit(inst, SELL, "10", "50000")), "50100")
    flip = await fill_at(executor, sim, await executor.place_order(limit(inst, SELL, "50", "51000")), "51100")

    assert {o.status for o in (first, second, close, flip)} == {OrderStatus.FILLED}
    realized = {}
    for order in (first, second, close, flip):
        trades = await trades_of(db_session, order)
        realized[order.id] = sum((t.realized_pnl for t in trades), D(0))
        assert sum(t.fee for t in trades) == order.size * D("0.01") * order.price * D("0.0002")
    # Opening trades realize minus their fee: 10·0.01·49000·0.0002 = 0.98; 30·0.01·48000·0.0002 = 2.88.
    assert (realized[first.id], realized[second.id]) == (D("-0.98"), D("-2.88"))
    # Average entry (10·49000 + 30·48000) / 40 = 48250. Closing 10 at 50000: 10·0.01·1750 = 175, fee 1.
    assert realized[close.id] == D("174")
    # Selling 50 at 51000 closes 30 (30·0.01·2750 = 825, fee 5.1) and opens 20 short at 51000.
    assert realized[flip.id] == D("819.9")
    position = (await db_session.execute(select(Position).where(Position.instrument_id == inst))).scalar_one()
    assert (position.size, position.average_entry_price, position.realized_pnl) == (D("-20"), D("51000"), D("1000"))
    [sim_position] = sim.exchange.state()["positions"]
    assert (D(sim_position["pos"]), D(sim_position["avgPx"])) == (position.size, position.average_entry_price)
    assert D(sim_position["realizedPnl"]) == position.realized_pnl


async def test_a_fill_seen_twice_is_stored_once(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    order = await fill_at(executor, sim, await executor.place_order(limit("BTC-USDT", BUY, "0.1", "49000")), "48990")

    await executor.reconcile_order(order)
    await executor.reconcile_order(order)

    count = (
        await db_session.execute(select(func.count()).select_from(Trade).where(Trade.order_id == order.id))
    ).scalar()
    assert count == 1
    assert order.filled_size == D("0.1")


async def test_exchange_refusal_is_stored_with_okx_code(executor: TradeExecutor) -> None:
    order = await executor.place_order(limit("BTC-USDT", BUY, "1000", "49000"))  # 49 M USDT: more than the balance

    assert order.status is OrderStatus.REJECTED
    assert order.error_code == "51008"
    assert "Insufficient USDT balance" in (order.error_message or "")


async def test_lost_answer_is_reconciled_by_client_order_id(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    sim.faults.update({"lose_response_rate": 1})
    order = await executor.place_order(limit("BTC-USDT", BUY, "0.1", "49000"))
    sim.faults.update({"lose_response_rate": 0})

    # The answer was lost: unknown, then reconciled by clOrdId at once — found live on the exchange.
    assert order.status is OrderStatus.LIVE
    moves = (
        (
            await db_session.execute(
                select(ExecutionEvent.data)
                .where(
                    ExecutionEvent.order_id == order.id,
                    ExecutionEvent.event_type == ExecutionEventType.ORDER_STATUS_CHANGED,
                )
                .order_by(ExecutionEvent.id)
            )
        )
        .scalars()
        .all()
    )
    assert [(m["from"], m["to"]) for m in moves] == [("pending_submit", "unknown"), ("unknown", "live")]
    assert order.exchange_order_id is not None
    orders_on_exchange = [o for o in sim.exchange.state()["orders"] if o["clOrdId"] == order.client_order_id]
    assert len(orders_on_exchange) == 1  # never sent twice


async def test_an_order_over_the_websocket_whose_answer_is_lost_is_reconciled(
    executor: TradeExecutor, okx: OKXClient, sim: OKXSimulator
) -> None:
    """The same as by REST: unknown, then found by clOrdId; never sent twice."""
    async with OKXWebSocket(sim.ws_private_url, credentials=okx.credentials, clock=okx.now_s) as ws:
        okx.send_orders_over(ws)
        async with asyncio.timeout(5):
            while not ws.ready:
                await asyncio.sleep(0.01)
        placed = await executor.place_order(limit("BTC-USDT", BUY, "0.1", "49000"))
        sim.faults.update({"lose_response_rate": 1})
        lost = await executor.place_order(limit("BTC-USDT", BUY, "0.1", "48000"))
        sim.faults.update({"lose_response_rate": 0})
        async with asyncio.timeout(5):  # the lost answer cut the WebSocket (not a REST connection): it comes back
            while ws.reconnects < 1:
                await asyncio.sleep(0.02)
        okx.send_orders_over(None)

    assert placed.status is OrderStatus.LIVE and lost.status is OrderStatus.LIVE
    assert lost.exchange_order_id is not None
    for order in (placed, lost):
        assert [o["clOrdId"] for o in sim.exchange.state()["orders"]].count(order.client_order_id) == 1


async def test_execute_signal_and_risk_rejection(executor: TradeExecutor, db_session: AsyncSession) -> None:
    account = Account(equity=D("1000000"), available={"USDT": D("1000000"), "BTC": D("10")})

    order = await executor.execute_signal(
        Signal(strategy_id="bot1", instrument_id="BTC-USDT", side=BUY, notional=D("500")), account
    )
    with pytest.raises(RiskRejected) as rejected:
        await executor.execute_signal(
            Signal(strategy_id="bot1", instrument_id="BTC-USDT", side=BUY, size=D("0.01"), price=D("40000")), account
        )

    assert order.status in (OrderStatus.LIVE, OrderStatus.FILLED)  # a market order; the answer may show it filled
    assert order.strategy_id == "bot1" and order.arrival_price is not None
    assert rejected.value.code == RiskCode.PRICE_DEVIATION_TOO_LARGE
    failures = (
        (
            await db_session.execute(
                select(ExecutionEvent).where(ExecutionEvent.event_type == ExecutionEventType.RISK_CHECK_FAILED)
            )
        )
        .scalars()
        .all()
    )
    assert [f.data["code"] for f in failures] == ["price_deviation_too_large"]


async def test_not_found_is_failed_only_after_exp_time(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    sim.faults.update({"error_rate": 1})  # answered 5xx with nothing done: the place's outcome is unknown
    order = await executor.place_order(limit("BTC-USDT", BUY, "0.1", "49000"))
    sim.faults.update({"error_rate": 0})
    assert order.status is OrderStatus.UNKNOWN

    order = await executor.reconcile_order(order)
    assert order.status is OrderStatus.UNKNOWN  # not found, but its expTime has not passed: look again later

    assert order.submit_expires_at is not None
    executor.clock = lambda: order.submit_expires_at + timedelta(seconds=3)  # type: ignore[operator]
    order = await executor.reconcile_order(order)
    assert order.status is OrderStatus.FAILED
    assert order.error_code == "not_found_after_exp_time"
    assert not [o for o in sim.exchange.state()["orders"] if o["clOrdId"] == order.client_order_id]


async def test_an_order_first_heard_of_as_filled_counts_as_acknowledged(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)
    order = await manager.create_order(OrderParams("BTC-USDT", BUY, OrderType.MARKET, D("0.01")))

    await manager.transition(order, OrderTrigger.CANCEL_REQUESTED)  # not something the exchange said
    assert order.acknowledged_at is None
    await manager.transition(order, OrderTrigger.FILLED)

    assert order.status is OrderStatus.FILLED
    assert order.acknowledged_at is not None and order.acknowledged_at == order.finished_at


async def test_while_reducing_only_derivative_orders_go_reduce_only_so_two_sells_cannot_flip_a_long(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    """Each sell of a 1-contract long passes the reducing-only check alone (the positions it reads are a few
    seconds old). Sent reduce-only, the exchange refuses the second: the long is closed, not turned short."""
    swap = "BTC-USDT-SWAP"

    def market(side: OrderSide) -> OrderParams:
        return OrderParams(swap, side, OrderType.MARKET, D("1"), trade_mode=TradeMode.CROSS,
                           instrument_type=InstrumentType.SWAP)  # fmt: skip

    await executor.reconcile_order(await executor.place_order(market(BUY)))
    executor.risk.set_trading_state(TradingState.REDUCING)
    as_read = Account(equity=D("1000000"), available={"USDT": D("1000000")}, positions={swap: D("1")})

    first = await executor.reconcile_order(await executor.place_checked_order(market(SELL), as_read))
    second = await executor.reconcile_order(await executor.place_checked_order(market(SELL), as_read))

    assert first.reduce_only and second.reduce_only
    assert first.status is OrderStatus.FILLED
    assert (second.status, second.error_code) == (OrderStatus.REJECTED, "51169")  # nothing left to reduce
    position = (await db_session.execute(select(Position).where(Position.instrument_id == swap))).scalar_one()
    assert position.size == 0
    # The buy and the first sell: the second sell was refused, never placed.
    assert [o["reduceOnly"] for o in sim.exchange.state()["orders"]] == ["false", "true"]
