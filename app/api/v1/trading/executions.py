"""/executions: parent orders worked by an execution strategy (market, limit, TWAP, iceberg)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select

from app.api.deps import ReadKey, RuntimeDep, SessionDep, TradeKey
from app.api.errors import APIError
from app.api.v1.trading.common import ERRORS, EXCHANGE_ERRORS, MAX_ID, Cursor, Limit, fetch_page
from app.models.trading import Execution, ExecutionStatus, InstrumentType, Order, OrderType
from app.schemas.common import ErrorResponse
from app.schemas.trading import ExecutionCreate, ExecutionPage, ExecutionRead, OrderRead
from app.services.okx.market import instrument_type_of
from app.services.trading.order_manager import OrderParams, trade_modes_for

router = APIRouter(prefix="/executions", tags=["executions"])
ExecutionId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such execution"}}


async def _read(session: SessionDep, execution: Execution) -> ExecutionRead:
    children = await session.execute(select(Order).where(Order.execution_id == execution.id).order_by(Order.id))
    read = ExecutionRead.model_validate(execution)
    read.children = [OrderRead.model_validate(child) for child in children.scalars()]
    return read


@router.post("", status_code=201, response_model=ExecutionRead, responses={**ERRORS, **EXCHANGE_ERRORS})
async def start_execution(body: ExecutionCreate, _: TradeKey, session: SessionDep, runtime: RuntimeDep) -> Any:
    """Start an execution; it is worked in the background (read it back for its progress and children)."""
    params = OrderParams(
        instrument_id=body.instrument_id,
        side=body.side,
        order_type=OrderType.LIMIT if body.price is not None else OrderType.MARKET,
        size=body.size,
        price=body.price,
        trade_mode=trade_modes_for(body.instrument_id)[0],
        instrument_type=InstrumentType(instrument_type_of(body.instrument_id)),
    )
    try:
        execution = await runtime.start_execution(body.algorithm, body.config, params, body.strategy_id)
    except ValueError as exc:
        raise APIError(422, "validation_error", str(exc), [{"field": "config", "message": str(exc)}]) from None
    return await _read(session, await _execution(session, execution.id))


@router.get("", response_model=ExecutionPage, responses=ERRORS)
async def list_executions(
    _: ReadKey,
    session: SessionDep,
    status: ExecutionStatus | None = None,
    strategy_id: str | None = None,
    instrument_id: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ExecutionPage:
    query = select(Execution)
    for column, value in (
        (Execution.status, status),
        (Execution.strategy_id, strategy_id),
        (Execution.instrument_id, instrument_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, next_cursor = await fetch_page(session, query, Execution.id, cursor, limit)
    return ExecutionPage(items=[ExecutionRead.model_validate(row) for row in rows], next_cursor=next_cursor)


async def _execution(session: SessionDep, execution_id: int) -> Execution:
    """Read afresh: the execution is moved by its strategy's own session while this request runs."""
    query = select(Execution).where(Execution.id == execution_id).execution_options(populate_existing=True)
    execution = (await session.execute(query)).scalar_one_or_none()
    if execution is None:
        raise APIError(404, "not_found", f"execution {execution_id} does not exist")
    return execution


@router.get("/{execution_id}", response_model=ExecutionRead, responses={**ERRORS, **NOT_FOUND})
async def get_execution(execution_id: ExecutionId, _: ReadKey, session: SessionDep) -> Any:
    """The execution with its child orders, progress and slippage against the arrival price."""
    return await _read(session, await _execution(session, execution_id))


@router.delete(
    "/{execution_id}",
    response_model=ExecutionRead,
    responses={**ERRORS, **NOT_FOUND, 409: {"model": ErrorResponse, "description": "already finished"}},
)
async def cancel_execution(execution_id: ExecutionId, _: TradeKey, session: SessionDep, runtime: RuntimeDep) -> Any:
    """Stop: the working child is canceled and no new slice is sent."""
    execution = await _execution(session, execution_id)
    if execution.status not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING):
        raise APIError(409, "execution_finished", f"execution {execution.id} is already {execution.status.value}")
    await session.commit()
    await runtime.cancel_execution(execution.id)
    return await _read(session, await _execution(session, execution.id))
