"""/positions: read positions and sync them with the exchange."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ExchangeDep, ReadKey, RuntimeDep, SessionDep, TradeKey
from app.api.errors import APIError
from app.api.v1.trading.common import ERRORS, EXCHANGE_ERRORS
from app.models.trading import Position, PositionSide
from app.schemas.common import ErrorResponse
from app.schemas.trading import PositionRead, PositionSyncResult
from app.services.trading.position_manager import PositionManager

router = APIRouter(prefix="/positions", tags=["positions"])


@router.get("", response_model=list[PositionRead], responses=ERRORS)
async def list_positions(
    _: ReadKey, session: SessionDep, runtime: RuntimeDep, include_closed: bool = False
) -> list[Position]:
    """Open positions (with `include_closed`, flat ones too), by instrument, marked to the latest market price."""
    return await PositionManager(session).marked_positions(runtime.risk.prices, include_closed=include_closed)


@router.post("/sync", response_model=PositionSyncResult, responses={**ERRORS, **EXCHANGE_ERRORS})
async def sync_positions(
    _: TradeKey, session: SessionDep, exchange: ExchangeDep, runtime: RuntimeDep, dry_run: bool = False
) -> PositionSyncResult:
    """Compare with the exchange, correct the local record, and list every difference found (each is an event).
    With `dry_run`, only list them: nothing is changed or recorded."""
    manager = PositionManager(session)
    differences = await manager.sync_with_exchange(exchange.client, caught_up=runtime.tracker.caught_up)
    if dry_run:
        await session.rollback()
    else:
        await session.commit()
    # As stored: OKX's mark and unrealized PnL the sync has just written, for the derivatives it compared.
    positions = [PositionRead.model_validate(p) for p in await manager.get_all_positions()]
    return PositionSyncResult(differences=differences, positions=positions)


@router.get(
    "/{instrument}",
    response_model=PositionRead,
    responses={**ERRORS, 404: {"model": ErrorResponse, "description": "no position in this instrument"}},
)
async def get_position(
    instrument: str,
    _: ReadKey,
    session: SessionDep,
    runtime: RuntimeDep,
    position_side: PositionSide = PositionSide.NET,
) -> Position:
    """One position, marked to the latest market price."""
    manager = PositionManager(session)
    position = await manager.get_position(instrument, position_side)
    if position is None:
        raise APIError(404, "not_found", f"no {position_side.value} position in {instrument}")
    return manager.marked(position, runtime.risk.prices)
