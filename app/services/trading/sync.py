"""`ExchangeOrderSync`: apply what the exchange says about an order (a WebSocket push or a REST answer) to the
database — its status through the state machine, each fill stored once with the position — in the caller's unit
of work. The executor (after a submit or when reconciling) and the order tracker (pushes, gap fills) share it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import direct_lane
from app.db_direct import DirectLane, detached, from_row
from app.models.base import utcnow
from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    InstrumentType,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Trade,
    TradeMode,
)
from app.services.okx import models as okx
from app.services.okx.client import OKXClient
from app.services.okx.errors import OKXError, OKXInstrumentNotFound, OKXOrderAlreadyFinished, OKXOrderNotFound
from app.services.okx.market import instrument_type_of
from app.services.trading import fill_statements
from app.services.trading.events import record_event, take_queued_rows
from app.services.trading.order_manager import OrderManager
from app.services.trading.order_state import OrderTrigger, trigger_for_exchange_state
from app.services.trading.position_manager import PositionManager
from app.services.trading.recorder import TradeRecorder, trade_values

__all__ = ["EXP_TIME_MARGIN", "ExchangeOrderSync", "SyncResult", "cancel_again"]

# Clock error allowed between us and OKX when deciding that an expTime has passed.
EXP_TIME_MARGIN = timedelta(seconds=2)
# OKX keeps an order canceled without any fill only 2 h after it ended (orders-history; its order query answers
# 51603 for it then too), every other finished order 7 days, and fills 3 days on /trade/fills (3 months on
# fills-history). Each with an hour's margin: the rule is OKX's, the clocks are ours.
UNFILLED_CANCELED_KEPT = timedelta(hours=3)
FILLS_KEPT = timedelta(days=3) - timedelta(hours=1)

log = logging.getLogger(__name__)

ORDER_TYPES = {member.value: member for member in OrderType}


@dataclass(frozen=True)
class SyncResult:
    order: Order
    new_fills: int
    # The exchange reports more filled than the fills stored: fetch the order's fills by REST to close the gap.
    missing_fills: bool


class ExchangeOrderSync:
    def __init__(self, okx_client: OKXClient, db_session: AsyncSession) -> None:
        self.okx = okx_client
        self.session = db_session
        self.orders = OrderManager(db_session)
        self.recorder = TradeRecorder(db_session)

    async def _find(self, snapshot: okx.Order) -> Order | None:
        return await self.orders.lock_by_exchange_ids(snapshot.ord_id, snapshot.cl_ord_id or None)

    async def _record_external(self, snapshot: okx.Order) -> Order:
        """An exchange order this service did not create: recorded and flagged, never ignored (DESIGN.md §4.5)."""
        order = Order(
            client_order_id=snapshot.cl_ord_id or None,
            exchange_order_id=snapshot.ord_id,
            instrument_id=snapshot.inst_id,
            instrument_type=InstrumentType(instrument_type_of(snapshot.inst_id)),
            side=OrderSide(snapshot.side),
            order_type=ORDER_TYPES.get(snapshot.ord_type, OrderType.LIMIT),
            trade_mode=TradeMode(snapshot.td_mode or "cash"),
            size=snapshot.sz,
            price=snapshot.px,
            filled_size=Decimal(0),
            status=OrderStatus.UNKNOWN,
            is_external=True,
            error_message="found on the exchange, not created by this service",
        )
        self.session.add(order)
        record_event(
            self.session,
            ExecutionEventType.RECONCILIATION_DIFFERENCE,
            order=order,
            data={
                "difference": "unknown exchange order",
                "ordId": snapshot.ord_id,
                "clOrdId": snapshot.cl_ord_id,
                "state": snapshot.state,
            },
        )
        await self.session.flush()
        return order

    async def apply(
        self,
        snapshot: okx.Order,
        fills: Sequence[okx.Fill] = (),
        *,
        from_push: bool = False,
        order: Order | None = None,
        commit: bool = False,
        known_filled: Decimal | None = None,
        order_id: int | None = None,
    ) -> SyncResult:
        """Record the fills not stored yet and move the status; flushes, and the caller commits, unless the
        snapshot is a unit of work of its own (`commit=True`, a push): it is committed when this returns.

        `known_filled` is what the caller believes is stored filled for this order (the tracker remembers what it
        applied): when it is the exchange's `accFillSz`, the snapshot brings no new fill, and its status change is
        tried as one statement first (which checks it: a wrong belief costs that one round trip, never a fill).
        A push bringing one new fill is applied on the direct lane when it can be (`_apply_fill_on_lane`).
        `order_id` is the order's id when the caller knows it (the tracker, for the orders it placed): that one
        statement then finds the order by it, and is group-committed with others (`DirectLane.fetch`)."""
        trigger = trigger_for_exchange_state(snapshot.state)
        brings_no_fill = snapshot.acc_fill_sz == 0 or snapshot.acc_fill_sz == known_filled
        if order is None and not fills and brings_no_fill and trigger is not None:
            # Most snapshots (live, canceled, expired, a fill's state repeated) are one statement; None: the general
            # path below.
            moved = await self.orders.move_without_fill(
                trigger,
                order_id=order_id,
                ord_id=snapshot.ord_id,
                cl_ord_id=snapshot.cl_ord_id or None,
                px=snapshot.px,
                sz=snapshot.sz,
                filled=snapshot.acc_fill_sz,
                at=snapshot.u_time,
                exchange_updated_at=snapshot.u_time,
                data={"exchange_state": snapshot.state},
                commit=commit,
            )
            if moved is not None:
                return SyncResult(moved, 0, missing_fills=False)
        # Network before locks: the instrument (cached) is looked up before any row is locked.
        instrument = await self.okx.public.instrument(snapshot.inst_id)
        pushed = _pushed_fill(snapshot) if from_push else None
        if commit and order is None and not fills and pushed is not None and (lane := direct_lane(self.session)):
            on_lane = await self._apply_fill_on_lane(
                lane, snapshot, pushed, trigger, instrument.contract_multiplier, order_id=order_id
            )
            if on_lane is not None:
                return on_lane
        if order is None:
            order = await self._find(snapshot)
        if order is None:
            order = await self._record_external(snapshot)
        if order.exchange_order_id is None:
            order.exchange_order_id = snapshot.ord_id

        multiplier = instrument.contract_multiplier
        position_side = order.position_side or PositionSide.NET
        new_fills = 0
        candidates = list(fills)
        # When the stored fills already reach accFillSz, the push's fill is one of them (`_pushed_fill`), and
        # neither the position nor the trade is touched for it.
        if pushed is not None and snapshot.acc_fill_sz > order.filled_size:
            candidates.append(pushed)
        for fill in candidates:
            if fill.ord_id != order.exchange_order_id or fill.fill_sz <= 0:
                continue
            trade = await self.recorder.record_trade(
                order.id,
                **_fill_facts(order, fill),
                multiplier=multiplier,
                instrument_type=order.instrument_type,
                position_side=position_side,
            )
            new_fills += trade is not None
        await self._move(order, snapshot, trigger)
        await (self.session.commit() if commit else self.session.flush())
        return SyncResult(order, new_fills, missing_fills=snapshot.acc_fill_sz > order.filled_size)

    async def _move(self, order: Order, snapshot: okx.Order, trigger: OrderTrigger | None) -> None:
        """After the fills: the exchange's price and size (an accepted amend shows here first), its state through
        the state machine, and its uTime."""
        if order.order_type is not OrderType.MARKET and not order.is_external:
            if snapshot.px is not None and snapshot.px != order.price:
                order.price = snapshot.px
            if snapshot.sz != order.size:
                order.size = snapshot.sz
        if trigger is not None:
            await self.orders.transition(order, trigger, at=snapshot.u_time, data={"exchange_state": snapshot.state})
        if order.exchange_updated_at is None or snapshot.u_time > order.exchange_updated_at:
            order.exchange_updated_at = snapshot.u_time

    async def _apply_fill_on_lane(
        self,
        lane: DirectLane,
        snapshot: okx.Order,
        fill: okx.Fill,
        trigger: OrderTrigger | None,
        multiplier: Decimal,
        *,
        order_id: int | None = None,
    ) -> SyncResult | None:
        """The common fill, a push bringing one new fill of one of our orders whose position exists, as one
        transaction on the direct lane (`fill_statements`): four round trips instead of eight and no unit-of-work
        flush. The objects are moved by the general path's own code (`TradeRecorder.fill_stored`, `_move`); only
        the reads and writes differ. None when it is not the common case: nothing was written, and the general
        path applies the snapshot."""
        try:
            async with lane.transaction() as transaction:
                found_by, parameters = _lock_parameters(snapshot, order_id)
                lock = lane.compiled(fill_statements.lock_statement(found_by), fill_statements.LOCK_ROW_TYPES)
                rows = await transaction.fetch(lock, parameters)
                if not rows or rows[0]["p_id"] is None:  # no such order, or the instrument's first fill
                    raise _NotTheCommonCase
                order, position = from_row(Order, rows[0], "o_"), from_row(Position, rows[0], "p_")
                if not _common_fill(order, snapshot, fill):
                    raise _NotTheCommonCase
                if order.exchange_order_id is None:  # the fill came before the acknowledgement: as the general path
                    order.exchange_order_id = snapshot.ord_id
                facts = _fill_facts(order, fill)
                effect = PositionManager.effect_of(
                    position,
                    facts["side"],
                    facts["size"],
                    facts["price"],
                    fee=facts["fee"],
                    fee_currency=facts["fee_currency"],
                    instrument_type=order.instrument_type,
                )
                values = trade_values(order, effect, **facts, multiplier=multiplier)
                # The trade as it will be stored, with the id the lock took for it: its events need that id.
                trade = detached(Trade, {**values, "id": rows[0]["trade_id"], "created_at": utcnow()})
                self.recorder.fill_stored(order, position, effect, trade)
                await self._move(order, snapshot, trigger)
                events = take_queued_rows(self.session)
                write = lane.compiled(fill_statements.write_statement(len(events)), _EVENT_ID)
                parameters = fill_statements.write_parameters(trade, order, position, events)
                if not await transaction.fetch(write, parameters):
                    # Stored before (another replica, a REST reconcile): nothing was written, and what the objects
                    # and the session were told above is dropped; the general path moves the rest.
                    await self.session.rollback()
                    raise _NotTheCommonCase
        except _NotTheCommonCase:
            return None
        await self.session.commit()  # it holds nothing now: its commit runs the events' effects (metrics, feeds)
        return SyncResult(order, 1, missing_fills=snapshot.acc_fill_sz > order.filled_size)

    async def reconcile(self, order: Order, now: datetime, *, still_open: Collection[str] | None = None) -> Order:
        """Ask the exchange about `order` (by ordId, else clOrdId) and apply the answer, fills included.

        "Not found" fails the order only when it was never acknowledged and its expTime (plus a margin for clock
        error) has passed: OKX never executes a request after its expTime, so only then is absence a proof. An
        acknowledged order not found is closed only as OKX's retention rules prove (`_forgotten_unfilled`);
        `still_open`, the exchange's open orders' ids when the caller has just listed them, spares listing them
        again. Flushes; the caller commits.
        """
        order_id = order.id
        try:
            if order.exchange_order_id:
                snapshot = await self.okx.trade.get_order(order.instrument_id, ord_id=order.exchange_order_id)
            else:
                snapshot = await self.okx.trade.get_order(order.instrument_id, cl_ord_id=order.client_order_id)
        except (OKXOrderNotFound, OKXInstrumentNotFound) as exc:  # no such instrument: no such order either
            forgotten = (
                isinstance(exc, OKXOrderNotFound)  # a delisted instrument's lists are not asked about
                and order.exchange_order_id is not None
                and not order.status.is_terminal
                and await self._forgotten_unfilled(order, now, still_open)
            )
            order = await self.orders.lock(order_id)
            deadline = order.submit_expires_at
            if order.exchange_order_id is None and deadline is not None and now > deadline + EXP_TIME_MARGIN:
                await self.orders.transition(
                    order,
                    OrderTrigger.CONFIRMED_ABSENT,
                    error_code="not_found_after_exp_time",
                    error_message="the exchange has no such order and its expTime has passed: it was never placed",
                )
            elif forgotten and not order.status.is_terminal and order.filled_size == 0:
                await self.orders.transition(
                    order,
                    OrderTrigger.CANCELED,
                    at=now,
                    error_code="absent_after_retention",
                    error_message="the exchange no longer knows this order and holds no fill of it: it was "
                    "canceled unfilled over 2 h ago (OKX keeps such orders only 2 h)",
                )
            return order
        fills: list[okx.Fill] = []
        if snapshot.acc_fill_sz > 0:
            fills = [f async for f in self.okx.trade.iter_fills(inst_id=order.instrument_id, ord_id=snapshot.ord_id)]
            listed = sum((f.fill_sz for f in fills), Decimal(0))
            if order.filled_size + listed < snapshot.acc_fill_sz and _older_than(order, FILLS_KEPT, now):
                # Short even were every listed fill new: the others are older than /trade/fills keeps (3 days), on
                # fills-history only (which may not list the newest yet: both are kept, each fill once).
                seen = {f.trade_id for f in fills}
                history = await self._fills_history(order.instrument_id, snapshot.ord_id)
                fills += [f for f in history if f.trade_id not in seen]
        order = await self.orders.lock(order_id)
        await self.apply(snapshot, fills, order=order)
        return order

    async def _forgotten_unfilled(self, order: Order, now: datetime, still_open: Collection[str] | None) -> bool:
        """Whether an acknowledged order the exchange no longer knows ended canceled without a fill: the one kind
        of finished order OKX forgets within days (2 h after it ended). True only when it was acknowledged longer
        ago than that, it is not on the exchange's open list, none of its fills is stored here and the exchange's
        fills history (3 months) has none. Otherwise nothing is concluded: a young order not found is an anomaly,
        asked about again at the next poll; one with fills is left for an operator, and said so."""
        if not _older_than(order, UNFILLED_CANCELED_KEPT, now):
            return False
        if still_open is None:
            pending = self.okx.trade.iter_pending_orders(inst_id=order.instrument_id)
            async with contextlib.aclosing(pending):
                still_open = {snapshot.ord_id async for snapshot in pending}
        if order.exchange_order_id in still_open:  # the query erred: it is open
            log.warning("order %s is open on the exchange, though its query did not find it", order.id)
            return False
        fills = await self._fills_history(order.instrument_id, order.exchange_order_id)
        if fills or order.filled_size != 0:
            if order.id not in _REPORTED:  # once: a gap fill asks about it again every minute
                if len(_REPORTED) >= MAX_REPORTED:
                    _REPORTED.clear()
                _REPORTED.add(order.id)
                log.error(
                    "order %s (%s) is no longer known to the exchange but has fills (%d listed, %s stored): its end "
                    "is not inferred; reconcile it by hand",
                    order.id,
                    order.exchange_order_id,
                    len(fills),
                    order.filled_size,
                )
            return False
        return True

    async def _fills_history(self, instrument_id: str, ord_id: str | None) -> list[okx.Fill]:
        """An order's fills of the last 3 months (`fills-history`; `/trade/fills` keeps 3 days)."""
        listed = self.okx.trade.iter_fills(
            inst_type=instrument_type_of(instrument_id), inst_id=instrument_id, ord_id=ord_id, history=True
        )
        return [fill async for fill in listed]


# The orders `_forgotten_unfilled` has reported as needing an operator (this process's, bounded).
_REPORTED: set[int] = set()
MAX_REPORTED = 10_000


def _older_than(order: Order, age: timedelta, now: datetime) -> bool:
    """Acknowledged (else submitted, else created) longer than `age` before `now`."""
    since = order.acknowledged_at or order.submitted_at or order.created_at
    return since is not None and now - since > age


class _NotTheCommonCase(Exception):
    """The direct lane's fill does not apply: its transaction is rolled back (it wrote nothing) and the general path
    runs."""


_EVENT_ID = {"id": ExecutionEvent.__table__.c.id.type}


def _lock_parameters(snapshot: okx.Order, order_id: int | None) -> tuple[fill_statements.FoundBy, dict[str, Any]]:
    """How the fill's lock finds its order: by a unique index whenever the push allows (`lock_statement`)."""
    if snapshot.cl_ord_id and order_id is not None:
        return "id", {"order_id": order_id, "cl_ord_id": snapshot.cl_ord_id}
    if snapshot.cl_ord_id:
        return "cl_ord_id", {"cl_ord_id": snapshot.cl_ord_id}
    return "exchange_ids", {"ord_id": snapshot.ord_id, "cl_ord_id": None}


def _pushed_fill(snapshot: okx.Order) -> okx.Fill | None:
    """The fill a push reports, with its own fee (REST order answers carry none of their own: their fee is
    cumulative, so their fills come from the fills endpoint). An order object carries its *last* fill's fields,
    so a later push (a cancel after a partial fill) repeats a fill that may be stored already."""
    if not (snapshot.trade_id and snapshot.fill_sz and snapshot.fill_px):
        return None
    return okx.Fill(
        inst_id=snapshot.inst_id,
        trade_id=snapshot.trade_id,
        ord_id=snapshot.ord_id,
        cl_ord_id=snapshot.cl_ord_id,
        side=snapshot.side,
        fill_px=snapshot.fill_px,
        fill_sz=snapshot.fill_sz,
        fee=snapshot.fill_fee,
        fee_ccy=snapshot.fill_fee_ccy or snapshot.fee_ccy,
        exec_type=snapshot.exec_type,
        fill_time=snapshot.fill_time,
        ts=snapshot.fill_time or snapshot.u_time,
    )


async def cancel_again(okx_client: OKXClient, order: Order) -> bool:
    """Send again the cancel of an order stored `pending_cancel` that the exchange has working. Asked while the
    order was still on its way, the first cancel found nothing to cancel (OKX 51400); or it was never sent (the
    service died between). Twice is harmless: the second is answered 51400. False when the exchange refused it
    otherwise (logged; the next gap fill or poll tries again); the exchange's push then settles the order."""
    if order.status is not OrderStatus.PENDING_CANCEL or not order.exchange_order_id:
        return False
    log.info("order %s is pending_cancel and working on the exchange: its cancel is sent again", order.id)
    try:
        await okx_client.trade.cancel_order(order.instrument_id, ord_id=order.exchange_order_id)
    except OKXOrderAlreadyFinished:
        return True  # canceled (or filled) meanwhile: its push or the reconciliation says which
    except OKXError as exc:
        log.warning("order %s: cancel sent again refused, left pending_cancel: %s", order.id, exc)
        return False
    return True


def _fill_facts(order: Order, fill: okx.Fill) -> dict[str, Any]:
    """A fill as `TradeRecorder.record_trade` (and `recorder.trade_values`) take it."""
    return {
        "trade_id": fill.trade_id,
        "instrument_id": order.instrument_id,
        "side": order.side,
        "price": fill.fill_px,
        "size": fill.fill_sz,
        "fee": -(fill.fee or Decimal(0)),  # OKX: negative = charged; ours: positive = paid
        "fee_currency": fill.fee_ccy or "",
        "liquidity": Liquidity.MAKER if fill.exec_type == "M" else Liquidity.TAKER if fill.exec_type == "T" else None,
        "executed_at": fill.fill_time or fill.ts,
    }


def _common_fill(order: Order, snapshot: okx.Order, fill: okx.Fill) -> bool:
    """One of our orders that the push brings a new fill of, and no amend (which the general path applies). The
    order may not be acknowledged yet: the exchange's pushes often arrive before its answer to the submit is stored
    (always, nearly, on a replica that did not place the order), and the push then acknowledges it, as on the
    general path."""
    amended = order.order_type is not OrderType.MARKET and (
        (snapshot.px is not None and snapshot.px != order.price) or snapshot.sz != order.size
    )
    return (
        not order.is_external
        and order.exchange_order_id in (None, fill.ord_id)
        and fill.fill_sz > 0
        and snapshot.acc_fill_sz > order.filled_size
        and not amended
    )
