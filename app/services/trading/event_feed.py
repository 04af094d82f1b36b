"""`EventFeed`: the execution events as they are committed, in id order, for live subscribers (the stream API).

The events table is the source: the feed reads rows past the last id it delivered, so nothing committed is ever
skipped, whichever process wrote it. It wakes when a transaction with events commits here (`after_commit`) and, on
PostgreSQL, when one commits on any replica: each feed `LISTEN`s on `execution_events` and, after commits of its own
process, sends one `NOTIFY` on that connection per burst (at most one per `announce_every_s`), not one per transaction
from inside it — so the order path pays no statement for it. It also polls every second as a safety net (and a
process without a feed, such as the operator CLI, is seen by that poll).

Ids are handed out when a row is inserted, not when it commits, so on PostgreSQL a lower id can commit after a
higher one. The feed therefore holds back at a gap for up to `gap_grace_s` (our transactions are short); a gap still
open after that is a rolled-back insert, and is passed over but watched for `late_window_s` in case it was only slow:
an event found there is delivered late (out of id order) rather than never. SQLite, with one writer at a time, has
no such gaps.

A subscriber first catches up from the table from the id it last saw, then receives the live batches. One that falls
`queue_size` batches behind is cut off (`SubscriberTooSlow`) and may resume from its last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.models.trading import ExecutionEvent
from app.services.trading.commit_hooks import after_commit
from app.tasks import stop_tasks

__all__ = ["CHANNEL", "EventFeed", "SubscriberTooSlow", "mark_written"]

log = logging.getLogger(__name__)

CHANNEL = "execution_events"
_WROTE = "execution_events_written"
_FEEDS: weakref.WeakSet[EventFeed] = weakref.WeakSet()
_OVERFLOW: list[ExecutionEvent] = []  # sentinel batch: the subscriber fell too far behind


class SubscriberTooSlow(Exception):
    def __init__(self, last_id: int) -> None:
        super().__init__(f"fell too far behind the live events; resume from id {last_id}")
        self.last_id = last_id


def mark_written(session: AsyncSession) -> None:
    """Called for every event added to a session: its commit will wake the feeds (once per transaction)."""
    info = session.sync_session.info
    if not info.get(_WROTE):
        info[_WROTE] = True
        after_commit(session, wake_feeds)


def wake_feeds() -> None:
    """Tell this process's feeds that new events are committed (at a session's commit, or at once for an event the
    direct lane wrote)."""
    for feed in list(_FEEDS):
        feed.committed_here()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_WROTE, None)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WROTE, None)


class EventFeed:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        engine: AsyncEngine | None = None,
        poll_interval_s: float = 1.0,
        gap_grace_s: float = 5.0,
        late_window_s: float = 60.0,
        queue_size: int = 1000,
        batch_size: int = 500,
        coalesce_s: float = 0.01,
        announce_every_s: float = 0.05,
    ) -> None:
        self.session_factory = session_factory
        self.engine = engine  # for LISTEN on PostgreSQL
        self.poll_interval_s = poll_interval_s
        self.gap_grace_s = gap_grace_s
        self.late_window_s = late_window_s
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.coalesce_s = coalesce_s
        # At most one NOTIFY this often: each is a round trip here, a delivery by PostgreSQL and a wake-up of every
        # other replica's feed, whether or not anyone there subscribes; at 0.01 s that was ~2.5 % of a replica's
        # CPU under load (benchmarks/load.py). Another replica's subscribers see events up to this much later.
        self.announce_every_s = announce_every_s
        self.watermark = 0  # every event with an id up to here was delivered or passed over
        self._gap_since: float | None = None
        self._skipped: dict[int, float] = {}  # passed-over id -> until when to look for it
        self._subscribers: set[asyncio.Queue[list[ExecutionEvent]]] = set()
        self._wake = asyncio.Event()
        self._notify = asyncio.Event()  # commits here not yet announced to the other replicas
        self._tasks: list[asyncio.Task[None]] = []
        self.started = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        _FEEDS.add(self)
        self._tasks = [asyncio.create_task(self._run(), name="event-feed")]
        if self.engine is not None and self.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="event-feed-listen"))

    async def stop(self) -> None:
        _FEEDS.discard(self)
        await stop_tasks(self._tasks)
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    @property
    def subscriber_count(self) -> int:
        """Live subscribers: a subscription counts once it has read its starting point (`newest_id`)."""
        return len(self._subscribers)

    def committed_here(self) -> None:
        """Events were committed by this process: read them, and tell the other replicas."""
        self._wake.set()
        self._notify.set()

    # --- reading ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                async with self.session_factory() as session:
                    self.watermark = (await session.execute(select(func.max(ExecutionEvent.id)))).scalar() or 0
                break
            except Exception:
                log.exception("event feed: cannot read the events table; retrying in 1 s")
                await asyncio.sleep(1)
        self.started.set()
        while True:
            # While a gap is held back, look again soon instead of waiting for the next commit.
            timeout = 0.05 if self._gap_since is not None else self.poll_interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
                await asyncio.sleep(self.coalesce_s)  # a burst of commits is read in one query
            self._wake.clear()
            if not self._subscribers:
                continue  # nobody listening: nothing to read (the first subscriber starts from the newest id)
            try:
                while await self._poll():  # a full batch: there may be more
                    pass
            except Exception:
                log.exception("event feed: reading new events failed; retrying")
                await asyncio.sleep(1)

    async def _poll(self) -> bool:
        now = time.monotonic()
        self._skipped = {n: until for n, until in self._skipped.items() if until > now}
        async with self.session_factory() as session:
            rows = await self._read(session, self.watermark, None, self.batch_size)
            late = (
                list(
                    (
                        await session.execute(
                            select(ExecutionEvent)
                            .where(ExecutionEvent.id.in_(list(self._skipped)))
                            .order_by(ExecutionEvent.id)
                        )
                    ).scalars()
                )
                if self._skipped
                else []
            )
        batch: list[ExecutionEvent] = []
        for row in late:
            del self._skipped[row.id]
            log.warning("event feed: event %d committed after later ones; delivered late", row.id)
            batch.append(row)
        expected = self.watermark + 1
        for row in rows:
            if row.id > expected:
                self._gap_since = self._gap_since or now
                if now - self._gap_since < self.gap_grace_s:
                    break  # hold back: the missing ids may still commit
                for missing in range(expected, min(row.id, expected + 1000)):
                    self._skipped[missing] = now + self.late_window_s
            self._gap_since = None
            batch.append(row)
            self.watermark = row.id
            expected = row.id + 1
        if batch:
            self._publish(batch)
        return len(rows) == self.batch_size and self._gap_since is None

    @staticmethod
    async def _read(session: AsyncSession, after: int, upto: int | None, limit: int) -> Sequence[ExecutionEvent]:
        query = select(ExecutionEvent).where(ExecutionEvent.id > after)
        if upto is not None:
            query = query.where(ExecutionEvent.id <= upto)
        return (await session.execute(query.order_by(ExecutionEvent.id).limit(limit))).scalars().all()

    def _publish(self, batch: list[ExecutionEvent]) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() >= self.queue_size - 1:
                queue.put_nowait(_OVERFLOW)
                self._subscribers.discard(queue)
            else:
                queue.put_nowait(batch)

    async def _listen(self) -> None:
        """PostgreSQL: wake on NOTIFY from another replica's commits, and announce this one's (after they
        committed, so a listener always finds the rows). The connection is re-made if it drops."""
        assert self.engine is not None
        while True:
            try:
                async with self.engine.connect() as connection:
                    raw: Any = (await connection.get_raw_connection()).driver_connection
                    own = raw.get_server_pid()
                    lost = asyncio.Event()
                    await raw.add_listener(CHANNEL, lambda _, pid, *__, own=own: pid != own and self.wake())
                    raw.add_termination_listener(lambda *_, lost=lost: lost.set())
                    while not lost.is_set() and not raw.is_closed():
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(5):
                                await self._notify.wait()
                            await asyncio.sleep(self.announce_every_s)  # one NOTIFY for a burst of commits
                            self._notify.clear()
                            await raw.execute(f"NOTIFY {CHANNEL}")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event feed: LISTEN %s failed; polling until it is back", CHANNEL)
            await asyncio.sleep(1)

    # --- subscribing --------------------------------------------------------------------------------------

    async def newest_id(self) -> int:
        """The id live delivery goes on from. The feed stands still without subscribers, so then it is read now."""
        await self.started.wait()
        if not self._subscribers:
            async with self.session_factory() as session:
                newest = (await session.execute(select(func.max(ExecutionEvent.id)))).scalar() or 0
            if not self._subscribers:
                self.watermark = max(self.watermark, newest)
                self._gap_since, self._skipped = None, {}
        return self.watermark

    async def subscribe(self, after: int | None = None) -> AsyncIterator[list[ExecutionEvent]]:
        """Batches of events: those after `after` from the table first (None: only new ones), then live ones."""
        await self.newest_id()
        queue: asyncio.Queue[list[ExecutionEvent]] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            live_from = self.watermark
            last = live_from if after is None else min(after, live_from)
            while last < live_from:
                async with self.session_factory() as session:
                    rows = await self._read(session, last, live_from, self.batch_size)
                if not rows:
                    break
                last = rows[-1].id
                # Passed-over ids that show up later come through the live path, not twice.
                if caught_up := [row for row in rows if row.id not in self._skipped]:
                    yield caught_up
            last = max(last, live_from)
            while True:
                batch = await queue.get()
                if batch is _OVERFLOW:
                    raise SubscriberTooSlow(last)
                if batch:
                    last = max(last, batch[-1].id)
                    yield batch
        finally:
            self._subscribers.discard(queue)
