"""Where the kill switch's state lives: the last `kill_switch_changed` event.

One source of truth that every replica, a restart and the operator CLI read alike; `ExecutionRiskControl` keeps the
in-memory copy its checks read, which the runtime refreshes from here every few seconds. A halt therefore survives
a restart and reaches every replica, whoever set it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEvent, ExecutionEventType
from app.services.trading.events import record_event_now
from app.services.trading.risk import TradingState

__all__ = ["LATEST_STATE", "StoredTradingState", "record_trading_state", "stored_trading_state"]


@dataclass(frozen=True)
class StoredTradingState:
    state: TradingState
    event_id: int  # later changes have larger ids: a reader applies a state only if it is newer than its own
    reason: str
    source: str  # api, cli, ...
    changed_at: datetime


# The kill switch's events, found by the event-type index, and the last of them. The OFFSET 0 keeps PostgreSQL from
# merging the two: as `WHERE event_type = … ORDER BY id DESC LIMIT 1`, without the column's statistics (a young
# database, as in benchmarks/load.py) its planner walks the primary key backwards and filters, i.e. reads every
# event when the switch was never used: 10 ms at 24,000 events (2026-11-29), and every replica reads this every few
# seconds while the table grows by ~3 events per order. The answer is the same either way.
_STATE_CHANGES = (
    select(ExecutionEvent.id, ExecutionEvent.data, ExecutionEvent.occurred_at)
    .where(ExecutionEvent.event_type == ExecutionEventType.KILL_SWITCH_CHANGED)
    .offset(0)
    .subquery("state_changes")
)
LATEST_STATE = select(_STATE_CHANGES).order_by(_STATE_CHANGES.c.id.desc()).limit(1)


async def stored_trading_state(session: AsyncSession) -> StoredTradingState | None:
    """The state last recorded, or None if none ever was (trading is then active)."""
    row = (await session.execute(LATEST_STATE)).first()
    if row is None:
        return None
    event_id, data, changed_at = row
    try:
        state = TradingState(data.get("to"))
    except ValueError:  # not a state change we wrote: read as no change
        return None
    return StoredTradingState(state, event_id, str(data.get("reason", "")), str(data.get("source", "api")), changed_at)


async def record_trading_state(
    session: AsyncSession, previous: TradingState, state: TradingState, *, reason: str, source: str
) -> int:
    """Record a change (committed by the caller, with whatever goes with it); returns the event's id."""
    return await record_event_now(
        session,
        ExecutionEventType.KILL_SWITCH_CHANGED,
        data={"from": previous, "to": state, "reason": reason, "source": source},
    )
