"""A fill's lock and its write, each one statement, for the direct lane (PostgreSQL, issue 10).

Through the session a fill costs eight round trips and the ORM's unit of work: BEGIN, SELECT the order, SELECT the
position, the trade, UPDATE the order, UPDATE the position, INSERT the events, COMMIT. On the direct lane
(`ExchangeOrderSync`) it is BEGIN, `lock_statement` (the order and its position, both row-locked, in that order as
on the general path), the trade (`recorder.store_trade_statement`), `write_statement` (the order's and the
position's rows as the same code left them, and the queued events) and COMMIT. The Python between them is the
general path's own (`TradeRecorder.fill_stored`, `OrderManager.transition`): only the reads and writes differ.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import CTE, Column, Insert, Select, Table, bindparam, func, insert, literal, or_, select, true, update
from sqlalchemy.types import TypeEngine

from app.db_direct import column_values
from app.models.base import utcnow
from app.models.trading import ExecutionEvent, Order, Position, PositionSide

__all__ = ["LOCK_ROW_TYPES", "lock_statement", "write_parameters", "write_statement"]

_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_EVENTS = ExecutionEvent.__table__
# The columns a fill and the status change that follows it move (`TradeRecorder.fill_stored`,
# `PositionManager.apply`, `OrderManager.transition`, the exchange's uTime), written as the objects hold them.
# `tests/integration/trading/test_direct_lane.py` compares whole rows with the general path's, so a column the
# code starts to move without being listed here fails there.
_ORDER_COLUMNS = [
    _ORDERS.c[name]
    for name in ("filled_size", "average_fill_price", "status", "acknowledged_at", "finished_at", "exchange_updated_at")
]
_POSITION_COLUMNS = [
    _POSITIONS.c[name]
    for name in (
        "size",
        "average_entry_price",
        "realized_pnl",
        "current_price",
        "unrealized_pnl",
        "opened_at",
        "closed_at",
    )
]
_EVENT_COLUMNS = [column for column in _EVENTS.c if column.name != "id"]

# The lock's row: the order's columns as o_<name>, the position's as p_<name> (NULL when it has none yet).
LOCK_ROW_TYPES: dict[str, TypeEngine[Any]] = {f"o_{c.name}": c.type for c in _ORDERS.c} | {
    f"p_{c.name}": c.type for c in _POSITIONS.c
}


@functools.cache
def lock_statement() -> Select[Any]:
    """The order the exchange's ids name (as `OrderManager.lock_by_exchange_ids`) and the position its fills move,
    both locked FOR UPDATE, the order first."""
    match = or_(_ORDERS.c.exchange_order_id == bindparam("ord_id"), _ORDERS.c.client_order_id == bindparam("cl_ord_id"))
    locked_order = select(_ORDERS).where(match).order_by(_ORDERS.c.id).limit(1).with_for_update().cte("locked_order")
    side = func.coalesce(locked_order.c.position_side, literal(PositionSide.NET, _POSITIONS.c.position_side.type))
    locked_position = (
        select(_POSITIONS)
        .where(_POSITIONS.c.instrument_id == locked_order.c.instrument_id, _POSITIONS.c.position_side == side)
        .with_for_update(of=_POSITIONS)
        .cte("locked_position")
    )
    return select(
        *[locked_order.c[c.name].label(f"o_{c.name}") for c in _ORDERS.c],
        *[locked_position.c[c.name].label(f"p_{c.name}") for c in _POSITIONS.c],
    ).select_from(locked_order.outerjoin(locked_position, true()))


@functools.cache
def write_statement(events: int) -> Insert:
    """The order's and the position's rows, and `events` event rows, in one statement."""
    orders = _row_update(_ORDERS, _ORDER_COLUMNS, "o_", "written_order")
    positions = _row_update(_POSITIONS, _POSITION_COLUMNS, "p_", "written_position")
    rows = [{c.name: bindparam(f"e{n}_{c.name}", type_=c.type) for c in _EVENT_COLUMNS} for n in range(events)]
    return insert(_EVENTS).values(rows).add_cte(orders).add_cte(positions)


def _row_update(table: Table, columns: list[Column[Any]], prefix: str, name: str) -> CTE:
    """UPDATE of one row (parameter `<prefix>id`) setting `columns` and `updated_at` from `<prefix><column>`."""
    written = [*columns, table.c.updated_at]
    return (
        update(table)
        .where(table.c.id == bindparam(f"{prefix}id"))
        .values({c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in written})
        .returning(table.c.id)
        .cte(name)
    )


def write_parameters(order: Order, position: Position, events: list[dict[str, Any]]) -> dict[str, Any]:
    """`write_statement`'s parameters: the two rows as the objects hold them, touched now (the columns' onupdate,
    as a flush would set it), and the event rows (`events.take_queued_rows`)."""
    now = utcnow()
    parameters: dict[str, Any] = {"o_id": order.id, "p_id": position.id}
    parameters.update({f"o_{name}": value for name, value in column_values(order, _ORDER_COLUMNS).items()})
    parameters.update({f"p_{name}": value for name, value in column_values(position, _POSITION_COLUMNS).items()})
    parameters["o_updated_at"] = parameters["p_updated_at"] = now
    for n, event in enumerate(events):
        parameters.update({f"e{n}_{c.name}": event[c.name] for c in _EVENT_COLUMNS})
    return parameters
