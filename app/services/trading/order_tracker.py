"""`OrderTracker`: keeps the database in step with the exchange for every open order.

One private WebSocket subscription (`orders`, all instrument types) serves every order — never a task or a poll
loop per order. Each push is applied in its own unit of work through `ExchangeOrderSync` (status through the state
machine, each fill stored once, position and events with it), so duplicated, late or reordered pushes change
nothing twice. REST fills the gaps: after every (re)connect the tracker reconciles every tracked order, and while
the socket is down it polls them; a push that failed to apply (the database restarting) is applied again at the
next poll. Pushes for orders this service does not know are recorded and flagged.
Callbacks (`start_tracking(..., callback=)`) are subscribers: they run after the commit, and their errors are
logged, never propagated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.log_config import log_context
from app.models.base import utcnow
from app.models.trading import Order, OrderStatus
from app.services.okx import models as okx
from app.services.okx.auth import OKXCredentials
from app.services.okx.client import OKXClient, parse
from app.services.okx.errors import OKXError
from app.services.okx.market import instrument_type_of
from app.services.okx.trade import PAGE_LIMIT
from app.services.okx.websocket import OKXWebSocket, WSConnected, WSEvent, WSPush
from app.services.trading.metrics import PUSH_APPLY_SECONDS
from app.services.trading.order_manager import ACTIVE_STATUSES, OrderManager
from app.services.trading.sync import ExchangeOrderSync, cancel_again
from app.tasks import stop_tasks

__all__ = ["OrderCallback", "OrderTracker", "TrackerStatus"]

log = logging.getLogger(__name__)

OrderCallback = Callable[[Order, dict[str, Any]], Awaitable[None]]

# Open orders whose stored fill size the tracker remembers (a hint that a push brings no new fill; beyond this many,
# new ones are not remembered and their pushes take the general path).
MAX_REMEMBERED_FILLS = 100_000
# Orders whose id the tracker remembers by clOrdId (a push then finds its order by id); the oldest are forgotten
# beyond this many, and their pushes find the order by the exchange's ids instead.
MAX_REMEMBERED_IDS = 20_000
# Polls at which a push that failed to apply (the database restarting, say) is applied again; after that, the
# leader's reconciliation (every minute) is its order's way back. Pushes are idempotent, so a late one is harmless.
MAX_PUSH_RETRIES = 10
STOP_DRAIN_S = 5.0  # at stop, how long the pushes already received are given to be applied
SUBSCRIBE_WAIT_S = 5.0  # at start, how long the subscription is waited for before the open orders are read
BULK_GAP_FILL_FROM = 10  # orders gone from the open list before the gap fill reads them from the order history
GAP_FILL_CONCURRENCY = 4  # finished orders the gap fill applies at once
GAP_FILL_PAGES = 20  # pages the gap fill reads at most from the order history and from the fills


@dataclass
class _Tracked:
    order_id: int
    exchange_order_id: str | None
    instrument_id: str | None
    callback: OrderCallback | None
    # Not acknowledged yet (pending_submit / unknown): re-checked on every poll, connected or not, until the
    # exchange shows it or its expTime proves it never existed.
    unsettled: bool = True


def _u_time(item: dict[str, Any]) -> int:
    """A push's uTime (ms), 0 when it has none."""
    try:
        return int(item.get("uTime") or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class TrackerStatus:
    running: bool
    websocket_connected: bool  # logged in and subscribed
    websocket_logged_in: bool
    websocket_subscribed: bool
    seconds_disconnected: float | None  # how long the WebSocket has been down (None while connected)
    orders_tracked: int
    reconnects: int
    seconds_since_last_push: float | None
    polling: bool  # the WebSocket is down: every tracked order is polled by REST
    last_gap_fill_at: datetime | None
    last_gap_fill_orders: int  # orders the last gap fill found changed (or had to ask about)
    # Pushes received and not yet applied, and how long the oldest has waited: how far the database (positions,
    # fills) is behind what the exchange has said. Under load they queue for the tracker's slots.
    pushes_pending: int
    oldest_pending_push_s: float | None


class OrderTracker:
    def __init__(
        self,
        okx_client: OKXClient,
        order_manager: OrderManager | None = None,
        *,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        ws_url: str | None = None,
        credentials: OKXCredentials | None = None,
        poll_interval_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        max_concurrent_pushes: int = 8,
    ) -> None:
        self.okx = okx_client
        self.order_manager = order_manager
        self._session_factory = session_factory
        self._ws_url = ws_url
        self._credentials = credentials or okx_client.credentials
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self._tracked: dict[int, _Tracked] = {}
        # The filled size stored for each open order whose push this tracker applied, by OKX ordId: a later push
        # reporting the same accFillSz brings no new fill, and its status change is one statement (`sync.apply`).
        self._filled: dict[str, Decimal] = {}
        # Our id of each order this tracker placed or applied a push of, by clOrdId, until it finishes: a push's
        # one-statement status change finds the order by its id, and is group-committed with others (`sync.apply`).
        self._ids: dict[str, int] = {}
        # Pushes that failed to apply, by ordId, with how many polls have tried them again: the next poll does.
        # Without this, an acknowledged order whose push failed waited for a reconnect or the minute's
        # reconciliation (a PostgreSQL restart under load: the run settled 46.9 s after its clients stopped).
        self._to_retry: dict[str, tuple[dict[str, Any], int]] = {}
        self._ws: OKXWebSocket | None = None
        self._poller: asyncio.Task[None] | None = None
        # One unit of work at a time per order (pushes, gap fills and polls of one order never interleave), many
        # orders at once: pushes of different orders are applied concurrently, up to `max_concurrent_pushes`.
        self._order_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._slots = asyncio.Semaphore(max_concurrent_pushes)
        self._gap_filling = asyncio.Lock()
        self._refills: set[asyncio.Task[None]] = set()  # gap fills after a reconnect, each a task of its own
        # Pushes being applied or waiting for a slot, each with when it was received (time.monotonic()); in the
        # order received, so the first is the oldest still pending.
        self._applying: dict[asyncio.Task[None], float] = {}
        self.last_push_at: float | None = None
        self.last_gap_fill_at: datetime | None = None
        self.last_gap_fill_orders = 0
        self.pushes_applied = 0

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the private `orders` channel, then resume tracking every open order in the database.

        In that order: an order is written before it is sent, so one whose last push came before the subscription
        is in the database, unfinished, when it is read after it, and the start-up gap fill settles it. Read
        first, an order acknowledged after the read and finished before the subscription was settled by nobody
        until the leader's reconciliation a minute later (a PostgreSQL restart under load with two replicas: 22
        orders, the run settled 46 s after its clients stopped). A socket that does not come up within
        `SUBSCRIBE_WAIT_S` is not waited for: the poller fills in by REST meanwhile."""
        if self._ws_url is not None and self._credentials is not None and self._ws is None:
            self._ws = OKXWebSocket(
                self._ws_url,
                credentials=self._credentials,
                clock=self.okx.now_s,
                on_event=self._on_event,
                # Pushes of ~1 kB each: deflating them cost the simulator ~7 % of its CPU under load (py-spy), and
                # this process inflating them, for bytes nobody is short of.
                compress=False,
            )
            await self._ws.subscribe({"channel": "orders", "instType": "ANY"})
            await self._ws.start()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SUBSCRIBE_WAIT_S):
                    await self._ws.connected.wait()
        await self.track_open_orders()
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="order-tracker-poll")

    async def stop(self) -> None:
        if self._poller is not None:
            await stop_tasks([self._poller])
            self._poller = None
        await stop_tasks(list(self._refills))
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        # Pushes already received are applied, not dropped; only those still unapplied after `STOP_DRAIN_S` are
        # cancelled. A unit of work cancelled mid-statement on SQLite can leave its connection a zombie that holds
        # the database's write lock until the garbage collector finalises its statement (aiosqlite closes it with
        # sqlite3_close_v2): every writer then failed with "database is locked" after its 30 s busy timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_DRAIN_S):
                await self.settled()
        await stop_tasks(list(self._applying))
        # What it followed is the database's to say at the next start (`track_open_orders`): kept, the orders that
        # finished meanwhile would each be asked about by REST then, and a leader that stood down would hold them.
        self._tracked.clear()
        self._filled.clear()
        self._ids.clear()
        self._to_retry.clear()

    @property
    def status(self) -> TrackerStatus:
        ws = self._ws
        connected = ws is not None and ws.connected.is_set()
        now = time.monotonic()
        down_since = ws.disconnected_since if ws is not None else None
        return TrackerStatus(
            running=self._poller is not None,
            websocket_connected=connected,
            websocket_logged_in=ws is not None and ws.logged_in,
            websocket_subscribed=connected,
            seconds_disconnected=None if connected or down_since is None else now - down_since,
            orders_tracked=len(self._tracked),
            reconnects=ws.reconnects if ws is not None else 0,
            seconds_since_last_push=None if self.last_push_at is None else now - self.last_push_at,
            polling=self._poller is not None and not connected,
            last_gap_fill_at=self.last_gap_fill_at,
            last_gap_fill_orders=self.last_gap_fill_orders,
            pushes_pending=len(self._applying),
            oldest_pending_push_s=self.behind_s() if self._applying else None,
        )

    def behind_s(self) -> float:
        """How long the oldest push not yet applied has waited (0 when none waits): how far the database's fills
        and positions are behind what the exchange has said."""
        return time.monotonic() - next(iter(self._applying.values())) if self._applying else 0.0

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, key: str) -> AsyncIterator[None]:
        """The lock of one order (by clOrdId, or ordId for an order without one); dropped when nobody holds it.
        asyncio's locks are FIFO, so pushes of one order are applied in the order they arrived."""
        lock, users = self._order_locks.get(key) or (asyncio.Lock(), 0)
        self._order_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._order_locks[key]
            if users <= 1:
                del self._order_locks[key]
            else:
                self._order_locks[key] = (lock, users - 1)

    # --- what is tracked ----------------------------------------------------------------------------------

    async def start_tracking(
        self,
        order_id: int,
        exchange_order_id: str | None = None,
        instrument_id: str | None = None,
        callback: OrderCallback | None = None,
        *,
        client_order_id: str | None = None,
    ) -> None:
        self._tracked[order_id] = _Tracked(order_id, exchange_order_id, instrument_id, callback)
        if client_order_id:
            self._remember_id(client_order_id, order_id)

    def _remember_id(self, client_order_id: str, order_id: int) -> None:
        if len(self._ids) >= MAX_REMEMBERED_IDS:
            del self._ids[next(iter(self._ids))]  # the oldest
        self._ids[client_order_id] = order_id

    def note(self, order: Order) -> None:
        """What the executor just learnt of a tracked order (its exchange id, whether it is acknowledged)."""
        tracked = self._tracked.get(order.id)
        if tracked is not None:
            tracked.exchange_order_id = order.exchange_order_id
            tracked.unsettled = order.awaits_acknowledgement

    def stop_tracking(self, order_id: int | str) -> None:
        """Stop tracking by internal order id, or by exchange order id (the spec's sample passes that)."""
        if isinstance(order_id, int):
            self._tracked.pop(order_id, None)
            return
        for key, tracked in list(self._tracked.items()):
            if tracked.exchange_order_id == order_id:
                del self._tracked[key]

    def is_tracking(self, order_id: int) -> bool:
        return order_id in self._tracked

    async def track_open_orders(self) -> int:
        """Track every non-terminal order of the database (start-up) and reconcile each with the exchange."""
        async with self._session() as session:
            for order in await OrderManager(session).get_active_orders():
                if order.id not in self._tracked:
                    self._tracked[order.id] = _Tracked(order.id, order.exchange_order_id, order.instrument_id, None)
        return await self.gap_fill()

    # --- units of work ------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _session(self) -> Any:
        if self._session_factory is None:
            if self.order_manager is None:
                raise RuntimeError("OrderTracker needs an order_manager or a session_factory")
            yield self.order_manager.session
            return
        async with self._session_factory() as session:
            yield session

    async def _finish(self, order: Order, data: dict[str, Any]) -> None:
        tracked = self._tracked.get(order.id)
        if tracked is not None:
            tracked.exchange_order_id = order.exchange_order_id
            tracked.unsettled = order.awaits_acknowledgement
            if tracked.callback is not None:
                try:
                    await tracked.callback(order, data)
                except Exception:
                    log.exception("order tracker: callback failed for order %s", order.id)
        if order.status.is_terminal:
            self._tracked.pop(order.id, None)

    async def apply_push(self, item: dict[str, Any]) -> Order | None:
        """One order object from the `orders` channel, applied in its own transaction."""
        try:
            snapshot = parse(okx.Order, item, what="order push")
        except OKXError as exc:
            log.warning("order tracker: unreadable push ignored: %s", exc)
            return None
        async with self._one_at_a_time(snapshot.cl_ord_id or snapshot.ord_id), self._slots, self._session() as session:
            sync = ExchangeOrderSync(self.okx, session)
            known_filled = self._filled.get(snapshot.ord_id)
            order_id = self._ids.get(snapshot.cl_ord_id) if snapshot.cl_ord_id else None
            result = await sync.apply(
                snapshot, from_push=True, commit=True, known_filled=known_filled, order_id=order_id
            )
            order = result.order  # committed: no lock held across the REST calls below
            if result.missing_fills:  # the exchange counts more filled than we hold: fetch the fills by REST
                order = await sync.reconcile(order, self.clock())
                await session.commit()
        if order.status is OrderStatus.PENDING_CANCEL and snapshot.state in ("live", "partially_filled"):
            # Working there, canceling here: a cancel that found nothing (asked while the order was on its way, and
            # the request that placed it could not send it again) or was lost. Outside the push's slot and lock.
            await cancel_again(self.okx, order)
        self.pushes_applied += 1
        if order.status.is_terminal or len(self._filled) >= MAX_REMEMBERED_FILLS:
            self._filled.pop(snapshot.ord_id, None)
        else:
            self._filled[snapshot.ord_id] = order.filled_size
        if order.status.is_terminal or order.is_external:
            self._ids.pop(order.client_order_id, None)
        elif order.client_order_id not in self._ids:
            self._remember_id(order.client_order_id, order.id)
        if not order.is_external and order.id not in self._tracked and not order.status.is_terminal:
            self._tracked[order.id] = _Tracked(order.id, order.exchange_order_id, order.instrument_id, None)
        await self._finish(order, item)
        return order

    async def reconcile(self, order_id: int, *, still_open: Collection[str] | None = None) -> Order | None:
        async with self._session() as session:
            order = await session.get(Order, order_id)
            await session.commit()  # no lock held while the exchange is asked
            if order is None:
                self._tracked.pop(order_id, None)
                return None
            async with self._one_at_a_time(order.client_order_id or order.exchange_order_id or str(order.id)):
                order = await ExchangeOrderSync(self.okx, session).reconcile(order, self.clock(), still_open=still_open)
                await session.commit()
        await cancel_again(self.okx, order)  # pending_cancel yet working there: its cancel found nothing, or was lost
        await self._finish(order, {"source": "rest"})
        return order

    async def gap_fill(self) -> int:
        """Bring every tracked order up to date by REST, in bulk (after a (re)connect, at start-up, or as the
        fallback poll): one paginated list of the exchange's open orders; then the orders that left it (finished
        meanwhile) from the exchange's order history and their fills from its fills list, a page of 100 at a
        time (`_finished_orders`); one lookup per order only for the rest (never acknowledged, or not found in
        those pages). Exchange orders nobody tracks are adopted (known) or recorded and flagged (unknown,
        DESIGN.md §4.5)."""
        async with self._gap_filling:  # one at a time: the poll's and a reconnect's would do the same work twice
            return await self._gap_fill()

    async def _gap_fill(self) -> int:
        touched = asked = 0
        began = time.monotonic()
        # Only an order tracked before the open list is read can be judged gone by its absence from it: one placed
        # since is followed by its pushes (and the poll); judged so, each was asked about by REST for nothing.
        known = list(self._tracked.items())
        try:
            pending = [o async for o in self.okx.trade.iter_pending_orders()]
        except OKXError as exc:
            log.warning("order tracker: listing the exchange's open orders failed, will retry: %s", exc)
            return 0
        still_open: set[str] = set()
        for snapshot in pending:
            still_open.add(snapshot.ord_id)
            if snapshot.cl_ord_id:
                still_open.add(snapshot.cl_ord_id)
            try:
                await self._apply_listed(snapshot)
                touched += 1
            except OKXError as exc:
                log.warning("order tracker: applying open order %s failed, will retry: %s", snapshot.ord_id, exc)
        finished = await self._finished_orders([t for _, t in known], still_open)
        touched += await self._apply_all(list(finished.values()))
        for order_id, tracked in known:
            if order_id not in self._tracked or tracked.exchange_order_id in still_open:
                continue  # finished meanwhile (a push, or just now), or still open
            if tracked.exchange_order_id in finished:
                continue  # its apply failed: the next gap fill or poll
            try:  # never acknowledged, or not in the pages read: ask about this one
                asked += 1
                await self.reconcile(order_id, still_open=still_open)
                touched += 1
            except OKXError as exc:
                log.warning("order tracker: reconciling order %s failed, will retry: %s", order_id, exc)
        log.info(
            "order tracker: gap fill in %.2f s: %d open, %d finished read from the history, %d asked about one by one",
            time.monotonic() - began,
            len(pending),
            len(finished),
            asked,
        )
        self.last_gap_fill_at = self.clock()
        self.last_gap_fill_orders = touched
        return touched

    async def _apply_all(self, listed: list[tuple[okx.Order, list[okx.Fill]]]) -> int:
        """Orders as the order history showed them, `GAP_FILL_CONCURRENCY` at a time, so that their statements
        share the direct lane's commits. How many were applied; a failure is left to the next gap fill or poll."""
        slots = asyncio.Semaphore(GAP_FILL_CONCURRENCY)

        async def apply(snapshot: okx.Order, fills: list[okx.Fill]) -> None:
            async with slots:
                await self._apply_listed(snapshot, fills)

        results = await asyncio.gather(*(apply(*item) for item in listed), return_exceptions=True)
        for (snapshot, _), result in zip(listed, results, strict=True):
            if isinstance(result, Exception):
                log.warning("order tracker: applying finished order %s failed, will retry: %s", snapshot.ord_id, result)
            elif isinstance(result, BaseException):  # cancelled: the gap fill is being stopped
                raise result
        return sum(1 for result in results if not isinstance(result, BaseException))

    async def _apply_listed(self, snapshot: okx.Order, fills: Sequence[okx.Fill] = ()) -> None:
        """An order as a REST list showed it, with the fills read for it, in its own unit of work; its fills are
        asked for by REST only when some are still missing."""
        async with self._one_at_a_time(snapshot.cl_ord_id or snapshot.ord_id), self._session() as session:
            sync = ExchangeOrderSync(self.okx, session)
            result = await sync.apply(snapshot, fills)
            order = result.order
            await session.commit()  # no lock held across the REST calls below
            if result.missing_fills:
                order = await sync.reconcile(order, self.clock())
                await session.commit()
        if not order.status.is_terminal and order.id not in self._tracked:
            self._tracked[order.id] = _Tracked(order.id, order.exchange_order_id, order.instrument_id, None)
        await cancel_again(self.okx, order)  # pending_cancel yet listed working: its cancel found nothing, or was lost
        await self._finish(order, {"source": "rest"})

    async def _finished_orders(
        self, known: list[_Tracked], still_open: set[str]
    ) -> dict[str, tuple[okx.Order, list[okx.Fill]]]:
        """The tracked orders (acknowledged) that left the open list, as the exchange's order history shows them,
        with their fills, by ordId. After a 5 s outage at 200 orders/s that is ~1,000 orders: asked one by one
        (an order, then its fills), the database settled 12.9–20.7 s after the load stopped, 10 s after the outage
        (`load.py --disrupt`, 2026-12-07); read so and applied 4 at a time, 0.0–1.1 s. Both lists are read
        newest first until everything wanted is found, at most `GAP_FILL_PAGES` pages each (the fills from the
        oldest filled one's creation on); an order not found in them, or whose fills do not add up, is asked about
        by itself. Nothing, when few are gone."""
        gone = {
            t.exchange_order_id: t.instrument_id
            for t in known
            if t.exchange_order_id and t.exchange_order_id not in still_open and t.instrument_id
        }
        if len(gone) < BULK_GAP_FILL_FROM:
            return {}
        found: dict[str, okx.Order] = {}
        fills: dict[str, list[okx.Fill]] = {}
        try:
            for inst_type in sorted({instrument_type_of(inst_id) for inst_id in gone.values()}):
                history = self.okx.trade.iter_order_history(inst_type, page_size=PAGE_LIMIT, max_pages=GAP_FILL_PAGES)
                async with contextlib.aclosing(history):
                    async for snapshot in history:
                        if snapshot.ord_id in gone:
                            found[snapshot.ord_id] = snapshot
                            if len(found) == len(gone):
                                break
                if len(found) == len(gone):
                    break
            unfilled = {o.ord_id: o.acc_fill_sz for o in found.values() if o.acc_fill_sz > 0}  # what to find
            if unfilled:
                since_ms = int(min(found[ord_id].c_time for ord_id in unfilled).timestamp() * 1000)
                for inst_type in sorted({instrument_type_of(found[ord_id].inst_id) for ord_id in unfilled}):
                    listed = self.okx.trade.iter_fills(
                        inst_type=inst_type, begin_ms=since_ms, page_size=PAGE_LIMIT, max_pages=GAP_FILL_PAGES
                    )
                    async with contextlib.aclosing(listed):
                        async for fill in listed:
                            if fill.ord_id in unfilled:
                                fills.setdefault(fill.ord_id, []).append(fill)
                                unfilled[fill.ord_id] -= fill.fill_sz
                                if unfilled[fill.ord_id] <= 0:
                                    del unfilled[fill.ord_id]
                                    if not unfilled:
                                        break
                    if not unfilled:
                        break
        except OKXError as exc:  # whatever was not read is asked about order by order
            log.warning("order tracker: reading the order history or fills failed: %s", exc)
        return {
            ord_id: (snapshot, fills.get(ord_id, []))
            for ord_id, snapshot in found.items()
            if sum((f.fill_sz for f in fills.get(ord_id, [])), Decimal(0)) == snapshot.acc_fill_sz
        }

    # --- event sources ------------------------------------------------------------------------------------

    async def _on_event(self, event: WSEvent) -> None:
        if isinstance(event, WSPush) and event.channel == "orders":
            self.last_push_at = received = time.monotonic()
            for item in event.data:
                # Not awaited here: the socket keeps reading while pushes of different orders are applied at once.
                task = asyncio.create_task(self._apply_logged(item, received))
                self._applying[task] = received
                task.add_done_callback(self._done_applying)
        elif isinstance(event, WSConnected):
            # Subscribed again: whatever happened while the socket was down is fetched by REST, in a task of its
            # own. Awaited here, it held the socket's reading up, and the pushes of the orders placed since waited
            # behind it (a 5 s outage at 200/s: a gap fill of 3–7 s, during which orders were refused `fills_behind`).
            task = asyncio.create_task(self._gap_fill_logged(), name="order-tracker-gap-fill")
            self._refills.add(task)
            task.add_done_callback(self._refills.discard)

    async def _gap_fill_logged(self) -> None:
        try:
            await self.gap_fill()
        except Exception:  # the poll fills in meanwhile, and the next reconnect or start-up fills again
            log.exception("order tracker: the gap fill after a reconnect failed")

    async def _adopt_open_orders(self) -> None:
        """Track the open orders of the database this tracker does not know yet: those other replicas placed
        (their fills are pushed here, but an order never acknowledged must be polled by someone: the leader)."""
        query = select(Order.id, Order.exchange_order_id, Order.instrument_id, Order.status).where(
            Order.status.in_(ACTIVE_STATUSES)
        )
        async with self._session() as session:
            rows = (await session.execute(query)).all()
        for order_id, exchange_order_id, instrument_id, status in rows:
            if order_id not in self._tracked:
                unsettled = exchange_order_id is None and not status.is_terminal
                self._tracked[order_id] = _Tracked(order_id, exchange_order_id, instrument_id, None, unsettled)

    def _done_applying(self, task: asyncio.Task[None]) -> None:
        self._applying.pop(task, None)

    async def _apply_logged(self, item: dict[str, Any], received: float) -> None:
        try:
            with log_context(
                client_order_id=item.get("clOrdId") or None,
                exchange_order_id=item.get("ordId") or None,
                instrument_id=item.get("instId") or None,
            ):
                await self.apply_push(item)
        except Exception:  # applied again at the next poll (`_retry_failed_pushes`)
            log.exception("order tracker: applying a push failed: %s", item.get("clOrdId") or item.get("ordId"))
            self._retry_later(item, 0)
        else:
            self._forget_retry_older_than(item)
            PUSH_APPLY_SECONDS.observe(time.monotonic() - received)

    def _forget_retry_older_than(self, item: dict[str, Any]) -> None:
        """A failed push of this order no newer than `item`, just applied, has nothing more to tell."""
        waiting = self._to_retry.get(item.get("ordId") or "")
        if waiting is not None and _u_time(waiting[0]) <= _u_time(item):
            del self._to_retry[item["ordId"]]

    def _retry_later(self, item: dict[str, Any], attempts: int) -> None:
        key = item.get("ordId") or ""
        if not key:
            return
        if attempts >= MAX_PUSH_RETRIES:
            log.error("order tracker: a push of %s still fails after %d polls; left to reconciliation", key, attempts)
        elif key in self._to_retry or len(self._to_retry) < MAX_REMEMBERED_IDS:
            self._to_retry[key] = (item, attempts)

    async def _retry_failed_pushes(self) -> None:
        for key, (item, attempts) in list(self._to_retry.items()):
            if self._to_retry.get(key, (None,))[0] is not item:  # a newer push of this order came meanwhile
                continue
            del self._to_retry[key]
            try:
                await self.apply_push(item)
            except Exception as exc:
                log.warning("order tracker: applying a push of %s again failed: %s", key, exc)
                if key not in self._to_retry:
                    self._retry_later(item, attempts + 1)

    async def settled(self) -> None:
        """Wait until every push received so far has been applied (tests, shutdown)."""
        while self._applying:
            await asyncio.gather(*list(self._applying), return_exceptions=True)

    async def caught_up(self, timeout_s: float = 5.0) -> bool:
        """Wait until what the exchange has told this tracker so far is stored: a gap fill running finished, the
        pushes received until now applied (not those received meanwhile: under a steady flow some push is always
        being applied). A position sync waits for it after reading the exchange's positions, so that a fill those
        count and whose push has arrived is not corrected in and then applied again. Bounded (a gap fill after a
        long outage can take minutes): False when the wait ran out, nothing being cancelled."""
        deadline = time.monotonic() + timeout_s
        try:
            await asyncio.wait_for(self._gap_filling.acquire(), timeout_s)
        except TimeoutError:
            return False
        self._gap_filling.release()
        if pending := list(self._applying):
            _, late = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            return not late
        return True

    async def _poll(self) -> None:
        """While the socket is down, poll everything; while it is up, only the orders not yet acknowledged
        (no push will ever settle an order the exchange never received)."""
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self._retry_failed_pushes()
                await self._adopt_open_orders()
                connected = self._ws is not None and self._ws.connected.is_set()
                if self._tracked and not connected:
                    await self.gap_fill()
                    continue
                for order_id, tracked in list(self._tracked.items()):
                    if tracked.unsettled:
                        await self.reconcile(order_id)
            except Exception:  # the poll loop must outlive any single failure
                log.exception("order tracker: poll failed; retrying next interval")
