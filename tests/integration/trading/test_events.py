"""Execution events are queued rows written with the unit of work (events.py): never lost, never written for a
rolled-back change, and pointing at rows created in the same flush. A fill recorded twice moves nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    Order,
    OrderSide,
    OrderType,
    Position,
    Trade,
    TradeDailySummary,
)
from app.services.trading.events import record_event, record_event_now
from app.services.trading.recorder import TradeRecorder

D = Decimal


async def _events(session: AsyncSession, event_type: ExecutionEventType) -> list[ExecutionEvent]:
    query = select(ExecutionEvent).where(ExecutionEvent.event_type == event_type).order_by(ExecutionEvent.id)
    return list((await session.execute(query)).scalars())


async def test_an_event_with_nothing_else_to_flush_is_written_at_commit(db_session: AsyncSession) -> None:
    record_event(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE, data={"limit": D("1.50")})
    await db_session.commit()
    [event] = await _events(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE)
    assert event.data == {"limit": "1.50"}


async def test_a_query_in_the_same_unit_of_work_sees_the_events_recorded_before_it(db_session: AsyncSession) -> None:
    record_event(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE)
    record_event(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE)
    count = select(func.count()).select_from(ExecutionEvent)
    assert (await db_session.execute(count)).scalar_one() == 2


async def test_a_rolled_back_unit_of_work_writes_none_of_its_events(db_session: AsyncSession) -> None:
    record_event(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE)
    await db_session.rollback()
    record_event(db_session, ExecutionEventType.KILL_SWITCH_CHANGED)
    await db_session.commit()
    assert await _events(db_session, ExecutionEventType.RECONCILIATION_DIFFERENCE) == []
    assert len(await _events(db_session, ExecutionEventType.KILL_SWITCH_CHANGED)) == 1


async def test_events_point_at_rows_created_in_the_same_flush_in_the_order_recorded(db_session: AsyncSession) -> None:
    order = Order(instrument_id="BTC-USDT", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("1"))
    db_session.add(order)  # no id yet
    record_event(db_session, ExecutionEventType.ORDER_CREATED, order=order)
    record_event(db_session, ExecutionEventType.ORDER_STATUS_CHANGED, order=order, data={"n": 2})
    first_id = await record_event_now(db_session, ExecutionEventType.KILL_SWITCH_CHANGED)
    events = (await db_session.execute(select(ExecutionEvent).order_by(ExecutionEvent.id))).scalars().all()
    assert [(e.event_type, e.order_id) for e in events] == [
        (ExecutionEventType.ORDER_CREATED, order.id),
        (ExecutionEventType.ORDER_STATUS_CHANGED, order.id),
        (ExecutionEventType.KILL_SWITCH_CHANGED, None),
    ]
    assert events[-1].id == first_id and order.id is not None
    assert events[0].instrument_id == "BTC-USDT"


async def test_a_fill_recorded_twice_moves_the_order_and_position_once(db_session: AsyncSession) -> None:
    order = Order(instrument_id="ETH-USDT", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("2"))
    db_session.add(order)
    await db_session.flush()
    recorder = TradeRecorder(db_session)
    fill = (order.id, "t-1", "ETH-USDT", OrderSide.BUY, D("3000.5"), D("1.5"), D("0.45"), "USDT")
    executed_at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    first = await recorder.record_trade(*fill, executed_at=executed_at)
    again = await recorder.record_trade(*fill, executed_at=executed_at)
    await db_session.commit()

    assert first is not None and again is None
    assert first.realized_pnl == D("-0.45") and first.closed_size == 0  # written once, whole: no later UPDATE
    assert (await db_session.execute(select(func.count()).select_from(Trade))).scalar_one() == 1
    position = (await db_session.execute(select(Position).where(Position.instrument_id == "ETH-USDT"))).scalar_one()
    assert (position.size, position.average_entry_price) == (D("1.5"), D("3000.5"))
    assert (order.filled_size, order.average_fill_price) == (D("1.5"), D("3000.5"))
    filled = await _events(db_session, ExecutionEventType.ORDER_FILLED)
    opened = await _events(db_session, ExecutionEventType.POSITION_OPENED)
    assert [(e.order_id, e.trade_id) for e in filled] == [(order.id, first.id)]
    assert [(e.order_id, e.trade_id, e.position_id) for e in opened] == [(order.id, first.id, position.id)]
    day = await db_session.execute(select(TradeDailySummary).where(TradeDailySummary.instrument_id == "ETH-USDT"))
    summary = day.scalar_one()  # added once, in the statement that stored the trade (PostgreSQL) or after it
    assert (summary.trades, summary.fees, summary.volume) == (1, D("0.45"), D("4500.75"))
