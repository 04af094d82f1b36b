"""/trades and /events: the fills, and the audit log of everything that happened."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import AwareDatetime
from sqlalchemy import select

from app.api.deps import ReadKey, SessionDep
from app.api.v1.trading.common import ERRORS, Cursor, IdFilter, Limit, fetch_page
from app.models.trading import ExecutionEvent, ExecutionEventType, OrderSide, Trade
from app.schemas.trading import EventPage, TradePage

router = APIRouter(tags=["trades and events"])


@router.get("/trades", response_model=TradePage, responses=ERRORS)
async def list_trades(
    _: ReadKey,
    session: SessionDep,
    instrument_id: str | None = None,
    strategy_id: str | None = None,
    order_id: IdFilter = None,
    side: OrderSide | None = None,
    executed_after: AwareDatetime | None = None,
    executed_before: AwareDatetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> TradePage:
    """Fills, newest first."""
    query = select(Trade)
    for column, value in (
        (Trade.instrument_id, instrument_id),
        (Trade.strategy_id, strategy_id),
        (Trade.order_id, order_id),
        (Trade.side, side),
    ):
        if value is not None:
            query = query.where(column == value)
    if executed_after is not None:
        query = query.where(Trade.executed_at >= executed_after)
    if executed_before is not None:
        query = query.where(Trade.executed_at < executed_before)
    items, next_cursor = await fetch_page(session, query, Trade.id, cursor, limit)
    return TradePage(items=items, next_cursor=next_cursor)


@router.get("/events", response_model=EventPage, responses=ERRORS)
async def list_events(
    _: ReadKey,
    session: SessionDep,
    event_type: ExecutionEventType | None = None,
    order_id: IdFilter = None,
    instrument_id: str | None = None,
    strategy_id: str | None = None,
    after: AwareDatetime | None = None,
    before: AwareDatetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> EventPage:
    """The audit log, newest first."""
    query = select(ExecutionEvent)
    for column, value in (
        (ExecutionEvent.event_type, event_type),
        (ExecutionEvent.order_id, order_id),
        (ExecutionEvent.instrument_id, instrument_id),
        (ExecutionEvent.strategy_id, strategy_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(ExecutionEvent.created_at >= after)
    if before is not None:
        query = query.where(ExecutionEvent.created_at < before)
    items, next_cursor = await fetch_page(session, query, ExecutionEvent.id, cursor, limit)
    return EventPage(items=items, next_cursor=next_cursor)
