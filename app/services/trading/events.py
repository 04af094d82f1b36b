"""Execution events (DESIGN.md §7): one append-only row per fact, added to the session of the change it describes,
so that it commits with that change or not at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.trading import ExecutionEvent, ExecutionEventType, Order, Position, Trade
from app.services.trading.commit_hooks import after_commit
from app.services.trading.event_feed import mark_written
from app.services.trading.metrics import note_event

__all__ = ["json_safe", "listen_committed", "record_event"]

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
) -> ExecutionEvent:
    # Only the objects given are set: a relationship set to None would overwrite its id column at flush.
    links = {name: value for name, value in (("order", order), ("trade", trade), ("position", position)) if value}
    event = ExecutionEvent(
        event_type=event_type,
        **links,
        execution_id=execution_id if execution_id is not None else (order.execution_id if order else None),
        instrument_id=instrument_id
        or (order.instrument_id if order else None)
        or (position.instrument_id if position else None),
        strategy_id=strategy_id or (order.strategy_id if order else None),
        data=json_safe(data or {}),
        occurred_at=occurred_at or utcnow(),
    )
    if order is None and order_id is not None:
        event.order_id = order_id
    session.add(event)
    note_event(session, event_type, event.data, event.instrument_id, order)
    mark_written(session)
    if _listeners:
        after_commit(session, partial(_tell, event_type, event.data))
    return event
