"""A fill's lock and its write, each one statement, for the direct lane (PostgreSQL, issue 10).

Through the session a fill costs eight round trips and the ORM's unit of work: BEGIN, SELECT the order, SELECT the
position, the trade, UPDATE the order, UPDATE the position, INSERT the events, COMMIT. On the direct lane
(`ExchangeOrderSync`) it is BEGIN, `lock_statement` (the order and its position, both row-locked, in that order as
on the general path, and the new trade's id from its sequence), `write_statement` (the trade, its day's summary, the
order's and the position's rows as the same code left them, and the queued events) and COMMIT. The Python between
them is the general path's own (`TradeRecorder.fill_stored`, `OrderManager.transition`): only the reads and writes
differ. The trade is written with the rest, so the rest is written only if the trade is new: a fill stored before
(by another replica, or a REST reconciliation) writes nothing, and the write says so by returning no row.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    BigInteger,
    Column,
    ColumnElement,
    Exists,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import TypeEngine

from app.db_direct import column_values
from app.models.base import utcnow
from app.models.trading import ExecutionEvent, Order, Position, PositionSide, Trade
from app.services.trading import daily_summary
from app.services.trading.recorder import FILL_IDENTITY

__all__ = ["LOCK_ROW_TYPES", "FoundBy", "lock_statement", "write_parameters", "write_statement"]

_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_EVENTS = ExecutionEvent.__table__
_TRADES = Trade.__table__
# The columns a fill and the status change that follows it move (`TradeRecorder.fill_stored`,
# `PositionManager.apply`, `OrderManager.transition`, the exchange's uTime), written as the objects hold them.
# `tests/integration/trading/test_direct_lane.py` compares whole rows with the general path's, so a column the
# code starts to move without being listed here fails there.
_ORDER_COLUMNS = [
    _ORDERS.c[name]
    for name in (
        "exchange_order_id",  # set by a fill that came before the acknowledgement
        "filled_size",
        "average_fill_price",
        "status",
        "acknowledged_at",
        "finished_at",
        "exchange_updated_at",
    )
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

# The lock's row: the order's columns as o_<name>, the position's as p_<name> (NULL when it has none yet), and the
# id the fill's trade will have (`trade_id`).
LOCK_ROW_TYPES: dict[str, TypeEngine[Any]] = (
    {f"o_{c.name}": c.type for c in _ORDERS.c}
    | {f"p_{c.name}": c.type for c in _POSITIONS.c}
    | {"trade_id": BigInteger()}
)


# How the lock finds the order: by our id and its clOrdId (the tracker's own orders), by its clOrdId (another
# replica's, or one the tracker forgot), or by either of the exchange's ids (a push without a clOrdId).
FoundBy = Literal["id", "cl_ord_id", "exchange_ids"]


@functools.cache
def lock_statement(found_by: FoundBy = "exchange_ids") -> Select[Any]:
    """The order the push names and the position its fills move, both locked FOR UPDATE, the order first; and an id
    for the fill's trade, from the trades' own sequence (one left unused when the fill turns out not to be the
    common case, as a rolled-back insert leaves one).

    By our id or by clOrdId it is one unique-index lookup. By the exchange's ids (an OR of two unique columns, as
    `OrderManager.lock_by_exchange_ids`) PostgreSQL plans a bitmap scan, and on a table it has no statistics of yet
    (a new database) a sequential scan, which a connection's cached generic plan then keeps while the table grows:
    in `benchmarks/load.py` every fill scanned the whole table."""
    match: ColumnElement[bool]
    if found_by == "id":
        match = and_(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.client_order_id == bindparam("cl_ord_id"))
    elif found_by == "cl_ord_id":
        match = _ORDERS.c.client_order_id == bindparam("cl_ord_id")
    else:
        match = or_(
            _ORDERS.c.exchange_order_id == bindparam("ord_id"), _ORDERS.c.client_order_id == bindparam("cl_ord_id")
        )
    locked_order = select(_ORDERS).where(match).order_by(_ORDERS.c.id).limit(1).with_for_update().cte("locked_order")
    side = func.coalesce(locked_order.c.position_side, literal(PositionSide.NET, _POSITIONS.c.position_side.type))
    locked_position = (
        select(_POSITIONS)
        .where(_POSITIONS.c.instrument_id == locked_order.c.instrument_id, _POSITIONS.c.position_side == side)
        .with_for_update(of=_POSITIONS)
        .cte("locked_position")
    )
    trade_id = func.nextval(func.pg_get_serial_sequence(_TRADES.name, _TRADES.c.id.name))
    return select(
        *[locked_order.c[c.name].label(f"o_{c.name}") for c in _ORDERS.c],
        *[locked_position.c[c.name].label(f"p_{c.name}") for c in _POSITIONS.c],
        trade_id.label("trade_id"),
    ).select_from(locked_order.outerjoin(locked_position, true()))


@functools.cache
def write_statement(events: int) -> Insert:
    """The trade (`t_<column>`, its id included) unless stored before, and only then its day's summary
    (`daily_summary.adding_parameters`), the order's and the position's rows and `events` event rows, in one
    statement. Returns the events' ids: none when the trade was stored before, and then nothing was written."""
    stored = (
        pg_insert(_TRADES)
        .values({c.name: bindparam(f"t_{c.name}", type_=c.type) for c in _TRADES.c})
        .on_conflict_do_nothing(index_elements=FILL_IDENTITY)
        .returning(_TRADES.c.id)
        .cte("stored")
    )
    is_new = select(stored.c.id).exists()
    orders = _row_update(_ORDERS, _ORDER_COLUMNS, "o_", "written_order", is_new)
    positions = _row_update(_POSITIONS, _POSITION_COLUMNS, "p_", "written_position", is_new)
    rows = union_all(
        *[
            select(*[bindparam(f"e{n}_{c.name}", type_=c.type).label(c.name) for c in _EVENT_COLUMNS]).where(is_new)
            for n in range(events)
        ]
    )
    return (
        insert(_EVENTS)
        .from_select([c.name for c in _EVENT_COLUMNS], rows)
        .returning(_EVENTS.c.id)
        .add_cte(stored)
        .add_cte(daily_summary.adding_after(stored))
        .add_cte(orders)
        .add_cte(positions)
    )


def _row_update(table: Table, columns: list[Column[Any]], prefix: str, name: str, when: Exists) -> CTE:
    """UPDATE of one row (parameter `<prefix>id`) setting `columns` and `updated_at` from `<prefix><column>`, if
    `when`."""
    written = [*columns, table.c.updated_at]
    condition: ColumnElement[bool] = table.c.id == bindparam(f"{prefix}id")
    return (
        update(table)
        .where(condition, when)
        .values({c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in written})
        .returning(table.c.id)
        .cte(name)
    )


def write_parameters(trade: Trade, order: Order, position: Position, events: list[dict[str, Any]]) -> dict[str, Any]:
    """`write_statement`'s parameters: the trade and its day's sums, the two rows as the objects hold them, touched
    now (the columns' onupdate, as a flush would set it; the objects too, so that they stay what is stored), and
    the event rows (`events.take_queued_rows`)."""
    now = utcnow()
    order.updated_at = position.updated_at = now
    parameters: dict[str, Any] = {f"t_{name}": value for name, value in column_values(trade, _TRADES.c).items()}
    parameters.update(daily_summary.adding_parameters(trade))
    parameters.update({"o_id": order.id, "p_id": position.id})
    parameters.update({f"o_{name}": value for name, value in column_values(order, _ORDER_COLUMNS).items()})
    parameters.update({f"p_{name}": value for name, value in column_values(position, _POSITION_COLUMNS).items()})
    parameters["o_updated_at"] = parameters["p_updated_at"] = now
    for n, event in enumerate(events):
        parameters.update({f"e{n}_{c.name}": event[c.name] for c in _EVENT_COLUMNS})
    return parameters
