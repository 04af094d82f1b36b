"""Execution events (DESIGN.md §7): one append-only row per fact, added to the session of the change it describes,
so that it commits with that change or not at all.

Events are rows, not ORM objects: `record_event` queues a row on the session, and the queue is written with one
multi-row INSERT when the session next flushes (`app.db.UnitOfWork`: explicitly, before a query, or at commit),
after the rows it points at have their ids. An event is never read back through the session, so the ORM's unit of
work (identity map, dependency sort, one INSERT … RETURNING per object) bought nothing for it and cost ~1 ms of
CPU per event, four events per order (issue 10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any

from sqlalchemy import CTE, ColumnElement, event, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import FLUSH_WRITERS
from app.models.base import utcnow
from app.models.trading import ExecutionEvent, ExecutionEventType, Order, Position, Trade
from app.services.trading.commit_hooks import after_commit, run_committed
from app.services.trading.event_feed import mark_written, wake_feeds
from app.services.trading.metrics import note_committed_event, note_event

__all__ = [
    "announce_committed",
    "insert_order_events",
    "json_safe",
    "listen_committed",
    "record_event",
    "record_event_now",
    "recorded_by_statement",
    "take_queued_rows",
]

CommittedListener = Callable[[ExecutionEventType, dict[str, Any]], None]
_listeners: list[CommittedListener] = []


def listen_committed(listener: CommittedListener) -> Callable[[], None]:
    """Call `listener(event_type, data)` for every event once its transaction has committed (in this process).
    Returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _tell(event_type: ExecutionEventType, data: dict[str, Any]) -> None:
    for listener in list(_listeners):
        listener(event_type, data)


def json_safe(value: Any) -> Any:
    """Event data as JSON: Decimals as exact strings, enums as values, datetimes as ISO-8601."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


@dataclass
class _PendingEvent:
    row: dict[str, Any]
    # Rows this event points at; their ids are read when the event is written (they may be new in this flush).
    order: Order | None
    trade: Trade | None
    position: Position | None

    def values(self) -> dict[str, Any]:
        for name, target in (("order_id", self.order), ("trade_id", self.trade), ("position_id", self.position)):
            if target is not None:
                if target.id is None:
                    raise RuntimeError(f"an execution event points at an unsaved {type(target).__name__}")
                self.row[name] = target.id
        return self.row


_PENDING = "pending_execution_events"
_INSERT = insert(ExecutionEvent)


def record_event(
    session: AsyncSession,
    event_type: ExecutionEventType,
    *,
    order: Order | None = None,
    trade: Trade | None = None,
    position: Position | None = None,
    execution_id: int | None = None,
    instrument_id: str | None = None,
    strategy_id: str | None = None,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    order_id: int | None = None,
) -> None:
    """Queue an event on the session's unit of work (written at its next flush, query or commit)."""
    now = utcnow()
    row = {
        "event_type": event_type,
        "order_id": order_id if order is None else None,
        "trade_id": None,
        "position_id": None,
        "execution_id": execution_id if execution_id is not None else (order.execution_id if order else None),
        "instrument_id": instrument_id
        or (order.instrument_id if order else None)
        or (position.instrument_id if position else None),
        "strategy_id": strategy_id or (order.strategy_id if order else None),
        "data": json_safe(data or {}),
        "occurred_at": occurred_at or now,
        "created_at": now,
    }
    sync_session = session.sync_session
    if not sync_session.in_transaction():
        sync_session.begin()  # so that a rollback before anything reached the database still drops the queue
    sync_session.info.setdefault(_PENDING, []).append(_PendingEvent(row, order, trade, position))
    _announce_at_commit(session, event_type, row["data"], row["instrument_id"], order)


def _announce_at_commit(
    session: AsyncSession,
    event_type: ExecutionEventType,
    data: dict[str, Any],
    instrument_id: str | None,
    order: Order | None,
) -> None:
    """What an event means outside the database (metrics, the feeds' wake-up, listeners), once it commits."""
    note_event(session, event_type, data, instrument_id, order)
    mark_written(session)
    if _listeners:
        after_commit(session, partial(_tell, event_type, data))


def insert_order_events(
    orders: CTE, event_type: ExecutionEventType, data: ColumnElement[Any], occurred_at: Any, created_at: Any
) -> CTE:
    """One event per order row of `orders` (a CTE returning orders' columns), as a CTE of the same statement: the
    change and its event in one round trip (`order_statements`). The row is `record_event`'s for an
    `order`; the caller calls `recorded_by_statement` for each row the statement returned."""
    table = ExecutionEvent.__table__
    columns = [
        "event_type",
        "order_id",
        "execution_id",
        "instrument_id",
        "strategy_id",
        "data",
        "occurred_at",
        "created_at",
    ]
    rows = select(
        literal(event_type, table.c.event_type.type),
        orders.c.id,
        orders.c.execution_id,
        orders.c.instrument_id,
        orders.c.strategy_id,
        data,
        occurred_at,
        created_at,
    )
    return insert(ExecutionEvent).from_select(columns, rows).cte(f"{orders.name}_events")


def recorded_by_statement(
    session: AsyncSession, event_type: ExecutionEventType, *, order: Order, data: dict[str, Any]
) -> None:
    """`record_event`'s effects outside the database for an event `insert_order_events` wrote."""
    _announce_at_commit(session, event_type, json_safe(data), order.instrument_id, order)


def announce_committed(event_type: ExecutionEventType, *, order: Order, data: dict[str, Any]) -> None:
    """`recorded_by_statement` for an event the direct lane (`app.db_direct`) wrote: it is committed already, so
    its effects outside the database happen now."""
    data = json_safe(data)
    note_committed_event(event_type, data, order.instrument_id, order)
    run_committed(wake_feeds)
    if _listeners:
        run_committed(partial(_tell, event_type, data))


async def record_event_now(session: AsyncSession, event_type: ExecutionEventType, **kwargs: Any) -> int:
    """`record_event`, written at once (after anything queued before it); returns the event's id."""
    record_event(session, event_type, **kwargs)
    event = session.sync_session.info[_PENDING].pop()
    await session.flush()
    await session.run_sync(_write_pending)  # a plain Session (not a UnitOfWork) flushes no queue when clean
    connection = await session.connection()
    return (await connection.execute(_INSERT.returning(ExecutionEvent.id), event.values())).scalar_one()


def take_queued_rows(session: AsyncSession) -> list[dict[str, Any]]:
    """The events queued on the session, as rows (with their ids resolved), taken off it: for a unit of work that
    the direct lane writes instead of the session's flush (a fill, `ExchangeOrderSync`). Their effects outside the
    database still wait for the session's commit, which the caller makes once the lane has committed."""
    pending: list[_PendingEvent] = session.sync_session.info.pop(_PENDING, None) or []
    return [event.values() for event in pending]


def _write_pending(session: Session) -> None:
    pending: list[_PendingEvent] | None = session.info.pop(_PENDING, None)
    if pending:
        session.connection().execute(_INSERT, [event.values() for event in pending])


FLUSH_WRITERS.append(_write_pending)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # A commit flushes only when an ORM object is dirty; the queue is written either way (with the rows it points
    # at first). Any Session, not only a `UnitOfWork`, writes its queued events when it commits.
    if session.info.get(_PENDING):
        session.flush()
        _write_pending(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, _previous: Any) -> None:
    # Every rollback, including one of a session that had not reached the database yet (`after_rollback` only
    # fires for a rollback sent to it).
    session.info.pop(_PENDING, None)
