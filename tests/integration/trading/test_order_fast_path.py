"""`OrderManager.move_without_fill`, the one-statement status change of issue 10, against the general path it shortcuts.

For every trigger it handles and every status an order can be in, the statement leaves the row and the event exactly
as `lock` + `transition` does, or changes nothing and says so (None), for the caller to take the general path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEvent, ExecutionEventType, Order, OrderSide, OrderStatus, OrderType
from app.services.trading.events import listen_committed
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_state import OrderTrigger
from app.services.trading.order_statements import status_move

D = Decimal
AT = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
EARLIER = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
FAST_TRIGGERS = [trigger for trigger in OrderTrigger if status_move(trigger) is not None]


def _limit() -> OrderParams:
    return OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.5"), D("49000"))


async def _order_in(
    manager: OrderManager, status: OrderStatus, *, acknowledged: bool, filled: Decimal = Decimal(0)
) -> Order:
    order = await manager.create_order(_limit())
    order.status = status
    if filled:
        order.filled_size, order.average_fill_price = filled, D("49000")
    if acknowledged:
        order.exchange_order_id, order.acknowledged_at = f"x{order.id}", EARLIER
    await manager.session.flush()
    return order


def _state(order: Order) -> tuple[Any, ...]:
    return (order.status, order.acknowledged_at, order.finished_at, order.exchange_updated_at, order.filled_size)


async def _last_event(session: AsyncSession, order_id: int) -> tuple[Any, ...]:
    event = (
        await session.execute(
            select(ExecutionEvent).where(ExecutionEvent.order_id == order_id).order_by(ExecutionEvent.id.desc())
        )
    ).scalar()
    assert event is not None
    data = {key: value for key, value in event.data.items() if key != "ordId"}
    return event.event_type, data, event.occurred_at


def test_the_triggers_it_handles_come_from_the_state_machine() -> None:
    accepted = ((OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN), OrderStatus.LIVE)
    assert status_move(OrderTrigger.ACCEPTED) == accepted
    assert status_move(OrderTrigger.CANCELED) == (
        tuple(status for status in OrderStatus if not status.is_terminal),
        OrderStatus.CANCELED,
    )
    # Where the outcome depends on more than the status (a refused cancel: acknowledged or not), never.
    assert status_move(OrderTrigger.CANCEL_REFUSED) is None


async def test_acknowledge_moves_the_callers_own_order_object(db_session: AsyncSession, backend: str) -> None:
    manager = OrderManager(db_session)
    order = await manager.create_order(_limit())
    one_statement = await manager.move_without_fill(OrderTrigger.ACCEPTED, order_id=order.id, ord_id="1")
    assert (one_statement is None) == (backend == "sqlite")  # SQLite always takes the general path
    acknowledged = await manager.acknowledge(order.id, "1")  # PostgreSQL: already live, a stale no-op now
    assert acknowledged is order and order.status is OrderStatus.LIVE and order.exchange_order_id == "1"
    assert order.acknowledged_at is not None


@pytest.mark.postgres_only
@pytest.mark.parametrize("filled", [D(0), D("0.2")], ids=["without fills", "fills all stored"])
@pytest.mark.parametrize("trigger", FAST_TRIGGERS, ids=str)
async def test_it_moves_every_status_exactly_as_transition_does(
    db_session: AsyncSession, trigger: OrderTrigger, filled: Decimal
) -> None:
    manager = OrderManager(db_session)
    for status in OrderStatus:
        for acknowledged in (False, True):
            general = await _order_in(manager, status, acknowledged=acknowledged, filled=filled)
            fast = await _order_in(manager, status, acknowledged=acknowledged, filled=filled)
            locked = await manager.lock(general.id)
            if locked.exchange_order_id is None:
                locked.exchange_order_id = f"y{general.id}"
            moved_generally = await manager.transition(locked, trigger, at=AT, data={"n": 1})
            locked.exchange_updated_at = AT
            await db_session.flush()

            moved = await manager.move_without_fill(
                trigger,
                order_id=fast.id,
                ord_id=f"y{fast.id}",
                filled=filled,
                at=AT,
                exchange_updated_at=AT,
                data={"n": 1},
            )
            case = f"{trigger} from {status} ({'acknowledged' if acknowledged else 'not acknowledged'})"
            if moved is None:
                assert not moved_generally, f"{case}: the general path moved it, the statement did not match"
                await db_session.refresh(fast)
                assert fast.status is status and fast.exchange_updated_at is None, f"{case}: changed nothing"
                continue
            assert moved is fast, f"{case}: the caller's object is the one refreshed"
            assert moved_generally, case
            assert _state(fast) == _state(locked), case
            assert fast.exchange_order_id == f"{'x' if acknowledged else 'y'}{fast.id}", case
            await db_session.flush()
            assert await _last_event(db_session, fast.id) == await _last_event(db_session, general.id), case


@pytest.mark.postgres_only
async def test_anything_but_the_common_case_is_left_to_the_general_path(db_session: AsyncSession) -> None:
    manager = OrderManager(db_session)

    partly_filled = await _order_in(manager, OrderStatus.LIVE, acknowledged=True)
    partly_filled.filled_size = D("0.1")
    external = await _order_in(manager, OrderStatus.LIVE, acknowledged=True)
    external.is_external = True
    amended = await _order_in(manager, OrderStatus.LIVE, acknowledged=True)
    await db_session.flush()

    canceled = OrderTrigger.CANCELED
    assert await manager.move_without_fill(canceled, order_id=partly_filled.id, ord_id="z") is None
    # The exchange reports more (or less) filled than is stored: a fill to record first, by the general path.
    for reported in (D("0.2"), D("0.05")):
        assert await manager.move_without_fill(canceled, order_id=partly_filled.id, ord_id="z", filled=reported) is None
    assert await manager.move_without_fill(canceled, ord_id=f"x{external.id}", px=D("49000"), sz=D("0.5")) is None
    # The exchange reports another price: an amend, which only the general path applies.
    assert await manager.move_without_fill(canceled, ord_id=f"x{amended.id}", px=D("48000"), sz=D("0.5")) is None
    assert await manager.move_without_fill(canceled, ord_id="nobody", cl_ord_id="nobody", px=None, sz=D("1")) is None
    # Found by our id (the tracker knows it), a snapshot must still be the order's: its clOrdId, price and size.
    for cl_ord_id, px in ((amended.client_order_id, D("48000")), (external.client_order_id, D("49000"))):
        assert (
            await manager.move_without_fill(
                canceled, order_id=amended.id, ord_id="z", cl_ord_id=cl_ord_id, px=px, sz=D("0.5")
            )
            is None
        )
    for order in (partly_filled, external, amended):
        await db_session.refresh(order)
        assert order.status is OrderStatus.LIVE

    # The same snapshot with the order's own price and size, found by clOrdId alone: one statement.
    moved = await manager.move_without_fill(
        canceled, ord_id="other", cl_ord_id=amended.client_order_id, px=D("49000"), sz=D("0.5"), at=AT
    )
    assert moved is amended and amended.status is OrderStatus.CANCELED and amended.finished_at == AT
    assert amended.exchange_order_id == f"x{amended.id}"  # an exchange id already known is kept


@pytest.mark.postgres_only
async def test_its_event_counts_like_any_other_once_committed_and_not_if_rolled_back(db_session: AsyncSession) -> None:
    """The risk control's open-order count, the metrics and the event feeds follow committed events: an event the
    statement wrote reaches them at commit, like one `record_event` queued, and never on a rollback."""
    manager = OrderManager(db_session)
    heard: list[tuple[ExecutionEventType, dict[str, Any]]] = []
    stop = listen_committed(lambda event_type, data: heard.append((event_type, data)))
    try:
        kept = await _order_in(manager, OrderStatus.LIVE, acknowledged=True)
        dropped = await _order_in(manager, OrderStatus.LIVE, acknowledged=True)
        await db_session.commit()
        kept_id, dropped_id, written_at = kept.id, dropped.id, kept.updated_at
        heard.clear()  # their creation

        async with db_session.begin_nested():
            assert await manager.move_without_fill(OrderTrigger.CANCELED, order_id=dropped_id, ord_id="a") is dropped
            await db_session.rollback()
        assert heard == []

        assert (
            await manager.move_without_fill(OrderTrigger.CANCELED, order_id=kept_id, ord_id="b", data={"n": 2}) is kept
        )
        assert heard == []  # not before the commit
        await db_session.commit()
        assert heard == [
            (ExecutionEventType.ORDER_CANCELED, {"from": "live", "to": "canceled", "trigger": "canceled", "n": 2})
        ]
        assert kept.updated_at > written_at  # the column's onupdate applies to the statement too
    finally:
        stop()


async def test_the_write_ahead_row_and_its_event_are_the_same_on_either_backend(db_session: AsyncSession) -> None:
    """PostgreSQL writes them in one statement, SQLite through the ORM: the same row, the same event."""
    manager = OrderManager(db_session)
    expires = datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)
    order = await manager.create_order(
        _limit(),
        strategy_id="s1",
        idempotency_key="k1",
        request_fingerprint="f" * 64,
        arrival_price=D("49100.5"),
        meta={"note": "x"},
        submit_expires_at=expires,
        submitted_at=AT,
    )
    assert await db_session.get(Order, order.id) is order  # persistent, in this unit of work
    row = (await db_session.execute(select(Order.__table__).where(Order.id == order.id))).one()._asdict()
    assert {name: value for name, value in row.items() if name not in {"id", "created_at", "updated_at"}} == {
        "client_order_id": order.client_order_id,
        "exchange_order_id": None,
        "idempotency_key": "k1",
        "request_fingerprint": "f" * 64,
        "instrument_id": "BTC-USDT",
        "instrument_type": "SPOT",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "trade_mode": "cash",
        "position_side": None,
        "target_currency": None,
        "reduce_only": False,
        "size": D("0.5"),
        "price": D("49000"),
        "filled_size": D(0),
        "average_fill_price": None,
        "arrival_price": D("49100.5"),
        "status": OrderStatus.PENDING_SUBMIT,
        "error_code": None,
        "error_message": None,
        "strategy_id": "s1",
        "execution_id": None,
        "is_external": False,
        "meta": {"note": "x"},
        "submit_expires_at": expires,
        "submitted_at": AT,
        "acknowledged_at": None,
        "finished_at": None,
        "exchange_updated_at": None,
    }
    assert row["created_at"] is not None and row["updated_at"] is not None
    event_type, data, _ = await _last_event(db_session, order.id)
    assert (event_type, data) == (
        ExecutionEventType.ORDER_CREATED,
        {
            "client_order_id": order.client_order_id,
            "side": "buy",
            "order_type": "limit",
            "size": "0.5",
            "price": "49000",
        },
    )
