"""/orders: place (idempotent), list, read, cancel and amend orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api.deps import ExecutorDep, ReadKey, SessionDep, TradeKey, Trading, TradingDep
from app.api.errors import APIError
from app.api.v1.trading.common import (
    ERRORS,
    EXCHANGE_ERRORS,
    PLACING_ERRORS,
    Cursor,
    Limit,
    OrderId,
    fetch_page,
    fingerprint,
    scoped_key,
)
from app.models.trading import InstrumentType, Order, OrderSide, OrderStatus
from app.schemas.common import ErrorResponse
from app.schemas.trading import OrderAmend, OrderCreate, OrderPage, OrderRead
from app.services.okx.market import instrument_type_of
from app.services.trading.order_manager import ACTIVE_STATUSES, OrderManager, OrderParams, trade_modes_for

router = APIRouter(prefix="/orders", tags=["orders"])


async def _replay(trading: Trading, existing: Order, request_fingerprint: str | None, response: Response) -> Order:
    if existing.request_fingerprint != request_fingerprint:
        raise APIError(
            409,
            "idempotency_conflict",
            "this idempotency key was already used for a different order",
            {"order_id": existing.id},
        )
    response.status_code = 200
    return await trading.executor.replayed(existing)


@router.post(
    "",
    status_code=201,
    response_model=OrderRead,
    responses={
        **ERRORS,
        **PLACING_ERRORS,
        200: {"model": OrderRead, "description": "the same idempotency key and body again: the first order"},
        409: {"model": ErrorResponse, "description": "the idempotency key was used for a different order"},
    },
)
async def create_order(
    body: OrderCreate,
    trading: TradingDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=100)] = None,
) -> Order:
    """Place an order: validated, risk-checked, written ahead, then sent. Sent twice with the same
    `client_order_id` (or `Idempotency-Key` header) it returns the first order instead of placing another."""
    session = trading.session
    scoped = scoped_key(trading.key.id, idempotency_key or body.client_order_id)
    # Only a keyed request can be replayed, so only it needs the fingerprint a replay is compared with.
    request_fingerprint = (
        fingerprint(body.model_dump(mode="json", exclude_unset=True, exclude={"client_order_id"})) if scoped else None
    )
    if scoped is not None and (existing := await OrderManager(session).get_by_idempotency_key(scoped)) is not None:
        return await _replay(trading, existing, request_fingerprint, response)
    derivative = instrument_type_of(body.instrument_id) != "SPOT"
    params = OrderParams(
        instrument_id=body.instrument_id,
        side=body.side,
        order_type=body.order_type,
        size=body.size,
        price=body.price,
        trade_mode=body.trade_mode or trade_modes_for(body.instrument_id)[0],
        position_side=body.position_side,
        target_currency="base_ccy" if not derivative and body.price is None else None,
        reduce_only=body.reduce_only,
        instrument_type=InstrumentType(instrument_type_of(body.instrument_id)),
    )
    try:
        return await trading.executor.place_checked_order(
            params,
            trading.runtime.current_account,  # read once admitted
            strategy_id=body.strategy_id,
            idempotency_key=scoped,
            request_fingerprint=request_fingerprint,
        )
    except IntegrityError:  # the same key raced in from a concurrent request: answer as if it came second
        await session.rollback()
        existing = await OrderManager(session).get_by_idempotency_key(scoped) if scoped else None
        if existing is None:
            raise
        return await _replay(trading, existing, request_fingerprint, response)


@router.get("", response_model=OrderPage, responses=ERRORS)
async def list_orders(
    _: ReadKey,
    session: SessionDep,
    instrument_id: str | None = None,
    status: OrderStatus | None = None,
    side: OrderSide | None = None,
    strategy_id: str | None = None,
    error_code: str | None = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> OrderPage:
    """Orders, newest first, filtered."""
    query = select(Order)
    for column, value in (
        (Order.instrument_id, instrument_id),
        (Order.status, status),
        (Order.side, side),
        (Order.strategy_id, strategy_id),
        (Order.error_code, error_code),
    ):
        if value is not None:
            query = query.where(column == value)
    if created_after is not None:
        query = query.where(Order.created_at >= created_after)
    if created_before is not None:
        query = query.where(Order.created_at < created_before)
    items, next_cursor = await fetch_page(session, query, Order.id, cursor, limit)
    return OrderPage(items=items, next_cursor=next_cursor)


@router.get("/active", response_model=list[OrderRead], responses=ERRORS)
async def active_orders(_: ReadKey, session: SessionDep, instrument_id: str | None = None) -> list[Order]:
    """Every order not yet finished (oldest first)."""
    query = select(Order).where(Order.status.in_(ACTIVE_STATUSES)).order_by(Order.id)
    if instrument_id is not None:
        query = query.where(Order.instrument_id == instrument_id)
    return list((await session.execute(query)).scalars().all())


async def _order(session: SessionDep, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise APIError(404, "not_found", f"order {order_id} does not exist")
    return order


@router.get(
    "/{order_id}",
    response_model=OrderRead,
    responses={**ERRORS, 404: {"model": ErrorResponse, "description": "no such order"}},
)
async def get_order(order_id: OrderId, _: ReadKey, session: SessionDep) -> Order:
    return await _order(session, order_id)


@router.delete(
    "/{order_id}",
    response_model=OrderRead,
    responses={
        **ERRORS,
        **EXCHANGE_ERRORS,
        404: {"model": ErrorResponse, "description": "no such order"},
        409: {"model": ErrorResponse, "description": "the order is already finished"},
    },
)
async def cancel_order(order_id: OrderId, _: TradeKey, session: SessionDep, executor: ExecutorDep) -> Order:
    """Cancel: the answer shows `pending_cancel` until the exchange confirms, or the final state it reached."""
    await _order(session, order_id)
    return await executor.cancel_order(order_id)


@router.patch(
    "/{order_id}",
    response_model=OrderRead,
    responses={
        **ERRORS,
        **EXCHANGE_ERRORS,
        404: {"model": ErrorResponse, "description": "no such order"},
        409: {"model": ErrorResponse, "description": "the order is already finished"},
    },
)
async def amend_order(
    order_id: OrderId, body: OrderAmend, _: TradeKey, session: SessionDep, executor: ExecutorDep
) -> Order:
    """Amend size (new total, filled part included) and/or price."""
    order = await _order(session, order_id)
    if body.size is not None and body.size <= order.filled_size:
        raise APIError(
            422,
            "validation_error",
            f"size must exceed what already filled ({order.filled_size})",
            [{"field": "size", "message": "not above the filled size"}],
        )
    return await executor.modify_order(order_id, new_size=body.size, new_price=body.price)
