"""The trading service's Prometheus instruments.

Counters follow the audit log: every execution event (`events.record_event`) notes what it means for the counters
on its session, and the counts move only when that transaction commits, so a rolled-back order or fill is never
counted, and a fill is counted once by the replica that stored it. Gauges (open orders, positions, PnL) are read
from the database when `/metrics` is scraped (`refresh_gauges`), so every replica reports the same account (the
unrealized PnL at the replica's own latest prices, which may differ by a refresh, ~2 s).
Counters are per process, as Prometheus expects: sum them over replicas with `sum without (instance)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEventType, Order, OrderSide, OrderStatus, Position
from app.services.trading.commit_hooks import after_commit, run_committed

if TYPE_CHECKING:
    from app.services.trading.order_tracker import TrackerStatus

__all__ = [
    "INTERNAL_OVERHEAD",
    "SUBMIT_SECONDS",
    "WORK_RECEIVED_AT",
    "note_event",
    "observe_tracker",
    "refresh_gauges",
]

ORDERS = Counter("trading_orders", "Orders that entered each status", ["status"])
FILLS = Counter("trading_fills", "Fills stored", ["instrument", "liquidity"])
FEES = Counter("trading_fees", "Fees charged, per currency", ["currency"])
FEE_REBATES = Counter("trading_fee_rebates", "Fee rebates received, per currency", ["currency"])
REJECTIONS = Counter("trading_order_rejections", "Orders the exchange rejected, by OKX sCode", ["code"])
RISK_FAILURES = Counter("trading_risk_check_failures", "Orders refused by the pre-trade checks, by risk code", ["code"])
SUBMIT_SECONDS = Histogram(
    "trading_order_submit_seconds",
    "Order placement on OKX: request sent to the exchange's answer",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SLIPPAGE_BPS = Histogram(
    "trading_slippage_bps",
    "Filled orders: average fill price against the arrival price, in basis points (positive = worse)",
    buckets=(-50, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50, 100),
)
INTERNAL_OVERHEAD = Histogram(
    "trading_internal_overhead_seconds",
    "Time inside the service before an order goes out: request received to OKX request sent",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
)
# When the work that led to the current order was requested (set by the API for each request).
WORK_RECEIVED_AT: ContextVar[float | None] = ContextVar("work_received_at", default=None)
TRACKER_CONNECTED = Gauge("trading_tracker_connected", "The order tracker's WebSocket is logged in and subscribed")
TRACKER_POLLING = Gauge("trading_tracker_polling", "The order tracker polls by REST because its WebSocket is down")
TRACKER_ORDERS = Gauge("trading_tracker_orders_tracked", "Orders the order tracker is following")
TRACKER_SINCE_PUSH = Gauge("trading_tracker_seconds_since_last_push", "Seconds since the last order push")
TRACKER_PUSHES_PENDING = Gauge(
    "trading_tracker_pushes_pending", "Order pushes received and not yet applied to the database"
)
TRACKER_OLDEST_PENDING_PUSH = Gauge(
    "trading_tracker_oldest_pending_push_seconds", "How long the oldest push not yet applied has waited (0: none)"
)
PUSH_APPLY_SECONDS = Histogram(
    "trading_push_apply_seconds",
    "Order pushes: received from the exchange to applied and committed (queueing for the tracker included)",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
TRACKER_LEADER = Gauge("trading_tracker_leader", "This replica leads (runs the order tracker)")
OPEN_ORDERS = Gauge("trading_open_orders", "Orders not yet finished, per instrument", ["instrument"])
POSITION_SIZE = Gauge("trading_position_size", "Signed position size (long > 0)", ["instrument", "side"])
UNREALIZED_PNL = Gauge("trading_unrealized_pnl", "Unrealized PnL at the last mark", ["instrument", "side"])
REALIZED_PNL = Gauge("trading_realized_pnl", "Realized PnL of the position, gross of fees", ["instrument", "side"])

Update = Callable[[], None]


def _slippage_bps(order: Order) -> float | None:
    if not (order.arrival_price and order.average_fill_price and order.filled_size > 0):
        return None
    direction = 1 if order.side is OrderSide.BUY else -1
    return float((order.average_fill_price - order.arrival_price) / order.arrival_price * 10_000 * direction)


def _updates(
    event_type: ExecutionEventType, data: dict[str, Any], instrument_id: str | None, order: Order | None
) -> list[Update]:
    """What one event means for the counters, as closures to run once it is committed."""
    updates: list[Update] = []
    if event_type is ExecutionEventType.ORDER_CREATED:
        updates.append(ORDERS.labels(OrderStatus.PENDING_SUBMIT.value).inc)
    elif "to" in data and event_type in {
        ExecutionEventType.ORDER_STATUS_CHANGED,
        ExecutionEventType.ORDER_CANCELED,
        ExecutionEventType.ORDER_REJECTED,
    }:
        status = str(data["to"])
        updates.append(ORDERS.labels(status).inc)
        if event_type is ExecutionEventType.ORDER_REJECTED:
            updates.append(REJECTIONS.labels(str(data.get("error_code") or "unknown")).inc)
        if status == OrderStatus.FILLED.value and order is not None and (bps := _slippage_bps(order)) is not None:
            updates.append(lambda: SLIPPAGE_BPS.observe(bps))
    elif event_type is ExecutionEventType.ORDER_FILLED:
        updates.append(FILLS.labels(instrument_id or "", str(data.get("liquidity") or "unknown")).inc)
        fee = Decimal(str(data.get("fee") or 0))
        currency = str(data.get("fee_currency") or "")
        if fee > 0:
            updates.append(lambda: FEES.labels(currency).inc(float(fee)))
        elif fee < 0:
            updates.append(lambda: FEE_REBATES.labels(currency).inc(float(-fee)))
    elif event_type is ExecutionEventType.RISK_CHECK_FAILED:
        updates.append(RISK_FAILURES.labels(str(data.get("code") or "unknown")).inc)
    return updates


def note_event(
    session: AsyncSession,
    event_type: ExecutionEventType,
    data: dict[str, Any],
    instrument_id: str | None,
    order: Order | None,
) -> None:
    """Count the event when (and only if) the session's transaction commits."""
    for update in _updates(event_type, data, instrument_id, order):
        after_commit(session, update)


def note_committed_event(
    event_type: ExecutionEventType, data: dict[str, Any], instrument_id: str | None, order: Order | None
) -> None:
    """Count an event that is already committed (written by the direct lane, `app.db_direct`)."""
    for update in _updates(event_type, data, instrument_id, order):
        run_committed(update)


def observe_tracker(status: TrackerStatus, leader: bool) -> None:
    TRACKER_LEADER.set(int(leader))
    TRACKER_CONNECTED.set(int(status.websocket_connected))
    TRACKER_POLLING.set(int(status.polling))
    TRACKER_ORDERS.set(status.orders_tracked)
    TRACKER_SINCE_PUSH.set(status.seconds_since_last_push if status.seconds_since_last_push is not None else -1)
    TRACKER_PUSHES_PENDING.set(status.pushes_pending)
    TRACKER_OLDEST_PENDING_PUSH.set(status.oldest_pending_push_s or 0)


async def refresh_gauges(session: AsyncSession, positions: Sequence[Position]) -> None:
    """Set the gauges from the database (called per scrape: two small queries) and `positions` (every position,
    marked to the market as `GET /positions` shows them: `PositionManager.marked_positions`). Read first, then
    swap with no await in between, so that two concurrent scrapes never see a half-set gauge."""
    open_orders = (
        await session.execute(
            select(Order.instrument_id, func.count())
            .where(Order.status.in_([status for status in OrderStatus if not status.is_terminal]))
            .group_by(Order.instrument_id)
        )
    ).all()
    for gauge in (OPEN_ORDERS, POSITION_SIZE, UNREALIZED_PNL, REALIZED_PNL):
        gauge.clear()
    for instrument_id, count in open_orders:
        OPEN_ORDERS.labels(instrument_id).set(count)
    for position in positions:
        labels = (position.instrument_id, str(position.position_side))
        POSITION_SIZE.labels(*labels).set(float(position.size))
        UNREALIZED_PNL.labels(*labels).set(float(position.unrealized_pnl))
        REALIZED_PNL.labels(*labels).set(float(position.realized_pnl))
