"""/signals: what strategy bots send; /risk/kill-switch: the trading state."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.exc import IntegrityError

from app.api.deps import AdminKey, RuntimeDep, TradingDep
from app.api.errors import APIError
from app.api.v1.trading.common import ERRORS, EXCHANGE_ERRORS, PLACING_ERRORS, fingerprint, scoped_key
from app.models.trading import Order
from app.schemas.common import ErrorResponse
from app.schemas.trading import KillSwitchChange, KillSwitchRead, KillSwitchResult, OrderRead
from app.services.trading.order_manager import OrderManager
from app.services.trading.signal import Signal

router = APIRouter(tags=["signals and risk"])


@router.post(
    "/signals",
    status_code=201,
    response_model=OrderRead,
    responses={
        **ERRORS,
        **PLACING_ERRORS,
        200: {"model": OrderRead, "description": "the same client_signal_id again: the first order"},
        409: {"model": ErrorResponse, "description": "the client_signal_id was used for a different signal"},
    },
)
async def post_signal(signal: Signal, trading: TradingDep, response: Response) -> Order:
    """A strategy's signal: risk-checked (a stale one is refused with `signal_expired`) and turned into an order."""
    session = trading.session
    scoped = scoped_key(trading.key.id, signal.client_signal_id)
    # Only a keyed signal can be replayed, so only it needs the fingerprint a replay is compared with.
    request_fingerprint = None
    if scoped is not None:
        request_fingerprint = fingerprint(
            signal.model_dump(mode="json", exclude_unset=True, exclude={"client_signal_id"})
        )

    async def replay() -> Order | None:
        existing = await OrderManager(session).get_by_idempotency_key(scoped) if scoped else None
        if existing is None:
            return None
        if existing.request_fingerprint != request_fingerprint:
            raise APIError(409, "idempotency_conflict", "this client_signal_id was used for a different signal")
        response.status_code = 200
        return await trading.executor.replayed(existing)

    if scoped is not None and (existing := await replay()) is not None:
        return existing
    try:
        return await trading.executor.execute_signal(
            signal if scoped is None else signal.model_copy(update={"client_signal_id": scoped}),
            trading.runtime.current_account,  # read once admitted
            request_fingerprint=request_fingerprint,
        )
    except IntegrityError:  # the same id raced in from a concurrent request: answer as if it came second
        await session.rollback()
        existing = await replay() if scoped else None
        if existing is None:
            raise
        return existing


@router.get("/risk/kill-switch", response_model=KillSwitchRead, responses=ERRORS)
async def get_kill_switch(_: AdminKey, runtime: RuntimeDep) -> KillSwitchRead:
    return KillSwitchRead(state=runtime.risk.trading_state)


@router.post("/risk/kill-switch", response_model=KillSwitchResult, responses={**ERRORS, **EXCHANGE_ERRORS})
async def set_kill_switch(change: KillSwitchChange, _: AdminKey, runtime: RuntimeDep) -> KillSwitchResult:
    """`halted` blocks new orders and cancels every open one; `reducing` lets only position-reducing orders through;
    `active` trades normally. Every change is an event."""
    canceled = await runtime.set_trading_state(change.state, reason=change.reason)
    return KillSwitchResult(state=runtime.risk.trading_state, canceled_orders=canceled)
