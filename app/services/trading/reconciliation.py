"""Reconciliation with the exchange: open orders, then positions (DESIGN.md §4.5, §5).

One routine for the leader's regular job and the operator's `python -m app.cli reconcile`. A dry run lists what
differs and changes nothing; a real run applies the exchange's view through the same paths the order tracker and
`POST /positions/sync` use (each correction an event), and says where each order ended up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.base import utcnow
from app.models.trading import Order
from app.services.okx.client import OKXClient
from app.services.trading.order_manager import OrderManager
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.position_manager import PositionManager

__all__ = ["Reconciliation", "open_order_differences", "reconcile_with_exchange"]


@dataclass
class Reconciliation:
    dry_run: bool
    # {"order_id", "client_order_id", "exchange_order_id", "instrument_id", "local", "exchange", "outcome"}
    orders: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)  # as PositionManager.sync_with_exchange says

    @property
    def differences(self) -> int:
        return len(self.orders) + len(self.positions)


def _order_row(order: Order | None, local: str, exchange: str, **ids: Any) -> dict[str, Any]:
    return {
        "order_id": order.id if order else None,
        "client_order_id": order.client_order_id if order else ids.get("client_order_id"),
        "exchange_order_id": order.exchange_order_id if order else ids.get("exchange_order_id"),
        "instrument_id": order.instrument_id if order else ids.get("instrument_id"),
        "local": local,
        "exchange": exchange,
        "outcome": None,
    }


async def open_order_differences(
    okx: OKXClient,
    session_factory: async_sessionmaker[AsyncSession],
    tracker: OrderTracker | None = None,
) -> list[dict[str, Any]]:
    """Our open orders against the exchange's open list: an order no longer open there (finished or never
    placed), one whose filled size differs, and an exchange order we do not know.

    Orders keep moving while the two are read, and a move in flight is not a difference: under load the regular
    job used to report (and correct by REST, one order at a time) every order placed or filled in those
    milliseconds. So our open orders are read first, then the exchange's list; an order that then looks different
    is read again once the tracker has applied every push received so far (`tracker.settled()`), and only what
    still differs is reported. An order the exchange has not acknowledged yet whose expTime has not passed may
    still arrive there, and an exchange order placed by us after our read is ours: neither is a difference. An
    exchange order we hold as finished is one."""
    async with session_factory() as session:
        ours = {order.id: order for order in await OrderManager(session).get_active_orders()}
    pending = [snapshot async for snapshot in okx.trade.iter_pending_orders()]
    if tracker is not None:
        await tracker.settled()
    now = tracker.clock() if tracker is not None else utcnow()
    by_key = {key: snapshot for snapshot in pending for key in (snapshot.ord_id, snapshot.cl_ord_id) if key}
    differences: list[dict[str, Any]] = []
    async with session_factory() as session:
        orders = OrderManager(session)
        matched: set[str] = set()
        for order_id, seen in ours.items():
            snapshot = by_key.get(seen.exchange_order_id or "") or by_key.get(seen.client_order_id or "")
            if snapshot is not None:
                matched.add(snapshot.ord_id)
                if snapshot.acc_fill_sz == seen.filled_size:
                    continue
            order = await orders.get_order(order_id)  # as it is now, after the pushes applied meanwhile
            if order is None or order.status.is_terminal:
                continue  # it finished through the tracker while the list was read
            if snapshot is None:
                if order.exchange_order_id is None and (order.submit_expires_at or now) > now:
                    continue  # not acknowledged yet, and the exchange may still receive it
                differences.append(_order_row(order, order.status.value, "not open"))
            elif snapshot.acc_fill_sz != order.filled_size:
                differences.append(
                    _order_row(order, f"filled {order.filled_size:f}", f"filled {snapshot.acc_fill_sz:f}")
                )
        for snapshot in pending:
            if snapshot.ord_id in matched:
                continue
            known = await orders.get_by_exchange_order_id(snapshot.ord_id) or (
                await orders.get_by_client_order_id(snapshot.cl_ord_id) if snapshot.cl_ord_id else None
            )
            if known is not None and not known.status.is_terminal:
                continue  # placed by us after our open orders were read
            if known is not None:  # finished here, open there
                differences.append(_order_row(known, known.status.value, snapshot.state))
                continue
            differences.append(
                _order_row(
                    None,
                    "unknown",
                    snapshot.state,
                    client_order_id=snapshot.cl_ord_id,
                    exchange_order_id=snapshot.ord_id,
                    instrument_id=snapshot.inst_id,
                )
            )
    return differences


async def reconcile_with_exchange(
    okx: OKXClient,
    session_factory: async_sessionmaker[AsyncSession],
    tracker: OrderTracker,
    *,
    dry_run: bool = False,
    compare_spot_holdings: bool = True,
) -> Reconciliation:
    """Compare (and unless `dry_run`, correct) open orders and positions. When an order differs, `tracker` applies
    the exchange's view (its gap fill: every order of the database that is open, and every exchange order nobody
    tracks); when none does, nothing is applied (the pushes keep the rest, amended prices included, up to date)."""
    result = Reconciliation(dry_run=dry_run)
    result.orders = await open_order_differences(okx, session_factory, tracker)
    if result.orders and not dry_run:  # with none, the tracker's own work has nothing to catch up on
        await tracker.track_open_orders()
        async with session_factory() as session:
            orders = OrderManager(session)
            for row in result.orders:
                order = await (
                    orders.get_order(row["order_id"])
                    if row["order_id"] is not None
                    else orders.get_by_exchange_order_id(row["exchange_order_id"])
                )
                if order is not None:
                    row["order_id"] = order.id
                    row["outcome"] = f"{order.status.value}, filled {order.filled_size:f}"
    async with session_factory() as session:
        result.positions = await PositionManager(session).sync_with_exchange(
            okx, compare_spot_holdings=compare_spot_holdings, caught_up=tracker.caught_up
        )
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
    return result
