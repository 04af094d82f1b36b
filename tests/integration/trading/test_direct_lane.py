"""The direct lane (`app.db_direct`): the order path's one-statement units of work on raw asyncpg connections.

What it writes and returns must be exactly what the session path writes and returns (the same statements, through
the same types), it commits at once and says so to the in-memory views at once, it is only taken by a session
with nothing in progress, and its failures come out as the service's usual database errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import DetachedInstanceError

from app.db import create_session_factory, direct_lane
from app.db_direct import DirectLane
from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Trade,
)
from app.services.okx import models as okx_models
from app.services.okx.client import OKXClient, parse
from app.services.trading import fill_statements
from app.services.trading.events import listen_committed
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_state import OrderTrigger
from app.services.trading.order_statements import status_move
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.sync import ExchangeOrderSync
from tests.integration.trading.test_order_fast_path import _last_event as last_event_of

pytestmark = pytest.mark.postgres_only

D = Decimal
AT = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
FAST_TRIGGERS = [trigger for trigger in OrderTrigger if status_move(trigger) is not None]
# Columns that differ between two orders written the same way.
OWN = {"id", "client_order_id", "exchange_order_id", "idempotency_key", "created_at", "updated_at"}


def _limit() -> OrderParams:
    return OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.5"), D("49000"))


def _columns(instance: Any) -> dict[str, Any]:
    return {prop.key: getattr(instance, prop.key) for prop in type(instance).__mapper__.column_attrs}


async def _row(factory: async_sessionmaker[AsyncSession], order_id: int) -> dict[str, Any]:
    async with factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return _columns(order)


async def _last_event(factory: async_sessionmaker[AsyncSession], order_id: int) -> tuple[Any, ...]:
    async with factory() as session:
        return await last_event_of(session, order_id)


async def _in_transaction(session: AsyncSession) -> None:
    """Give the session a transaction of its own, so that it may not take the lane."""
    await session.execute(text("SELECT 1"))
    assert direct_lane(session) is None


@contextlib.contextmanager
def _session_statements(
    factory: async_sessionmaker[AsyncSession], into: list[str] | None = None
) -> Iterator[list[str]]:
    """The SQL run through the sessions' engine while the block runs (`into`, or a new list): the lane's statements
    never pass there, so an empty list means the work took the lane."""
    statements: list[str] = [] if into is None else into
    engine = factory.kw["bind"].sync_engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, …)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


WRITE_AHEAD: dict[str, Any] = dict(
    strategy_id="s1",
    request_fingerprint="f" * 64,
    arrival_price=D("49100.5"),
    meta={"note": "x", "n": 1},
    submit_expires_at=datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC),
    submitted_at=AT,
    commit=True,
)


async def test_the_write_ahead_on_the_lane_is_the_sessions_row_and_event(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        assert direct_lane(session) is not None
        fast = await OrderManager(session).create_order(_limit(), idempotency_key="k1", **WRITE_AHEAD)
    async with factory() as session:
        await _in_transaction(session)
        general = await OrderManager(session).create_order(_limit(), idempotency_key="k2", **WRITE_AHEAD)
        assert inspect(general).persistent  # the session's path: its own object

    assert inspect(fast).detached
    fast_row, general_row = await _row(factory, fast.id), await _row(factory, general.id)
    assert _columns(fast) == fast_row  # what it returns is what it wrote, types and all
    assert {k: v for k, v in fast_row.items() if k not in OWN} == {k: v for k, v in general_row.items() if k not in OWN}
    assert fast_row["idempotency_key"] == "k1"
    assert timedelta(0) <= fast_row["updated_at"] - fast_row["created_at"] < timedelta(seconds=1)  # the defaults
    assert isinstance(fast.status, OrderStatus) and fast.meta == {"note": "x", "n": 1}
    fast_event, general_event = await _last_event(factory, fast.id), await _last_event(factory, general.id)
    assert fast_event[0] is ExecutionEventType.ORDER_CREATED
    assert fast_event[1] == {**general_event[1], "client_order_id": fast.client_order_id}


async def test_an_order_from_the_lane_is_detached_and_every_column_is_loaded(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        order = await OrderManager(session).create_order(_limit(), commit=True)
    assert inspect(order).detached and not inspect(order).expired_attributes - {"trades", "execution"}
    with pytest.raises(DetachedInstanceError):
        _ = order.trades  # a relationship is never loaded: read it through a session
    async with factory() as session:  # and it can be locked (loaded) in a session as any order
        locked = await OrderManager(session).lock(order.id)
        assert locked is not order and _columns(locked) == _columns(order)


@pytest.mark.parametrize("trigger", FAST_TRIGGERS, ids=str)
async def test_it_moves_every_status_as_the_session_does(
    factory: async_sessionmaker[AsyncSession], trigger: OrderTrigger
) -> None:
    pairs = []
    async with factory() as session:
        manager = OrderManager(session)
        for status in OrderStatus:
            for acknowledged in (False, True):
                orders = [await manager.create_order(_limit()) for _ in range(2)]
                for order in orders:
                    order.status = status
                    if acknowledged:
                        order.exchange_order_id, order.acknowledged_at = f"x{order.id}", AT
                pairs.append((status, acknowledged, orders[0].id, orders[1].id))
        await session.commit()

    for status, acknowledged, fast_id, general_id in pairs:
        case = f"{trigger} from {status} ({'acknowledged' if acknowledged else 'not acknowledged'})"
        moved = {}
        for order_id, on_lane in ((fast_id, True), (general_id, False)):
            async with factory() as session:
                if not on_lane:
                    await _in_transaction(session)
                moved[on_lane] = await OrderManager(session).move_without_fill(
                    trigger, order_id=order_id, ord_id=f"y{order_id}", at=AT, exchange_updated_at=AT,
                    data={"n": 1}, commit=True,
                )  # fmt: skip
        assert (moved[True] is None) == (moved[False] is None), case
        fast_row, general_row = await _row(factory, fast_id), await _row(factory, general_id)
        if moved[True] is None:
            assert fast_row["status"] is status, case
            continue
        assert inspect(moved[True]).detached and _columns(moved[True]) == fast_row, case
        assert {k: v for k, v in fast_row.items() if k not in OWN} == {
            k: v for k, v in general_row.items() if k not in OWN
        }, case
        assert fast_row["updated_at"] > fast_row["created_at"], f"{case}: the column's onupdate applies"
        assert await _last_event(factory, fast_id) == await _last_event(factory, general_id), case


async def test_its_events_reach_the_views_at_once(factory: async_sessionmaker[AsyncSession]) -> None:
    """Committed when the call returns, so the listeners (the risk control's open-order count), the metrics and
    the feeds hear of it then, once."""
    heard: list[tuple[ExecutionEventType, dict[str, Any]]] = []
    stop = listen_committed(lambda event_type, data: heard.append((event_type, data)))
    created_before = REGISTRY.get_sample_value("trading_orders_total", {"status": "pending_submit"}) or 0
    try:
        async with factory() as session:
            order = await OrderManager(session).create_order(_limit(), commit=True)
            assert [event_type for event_type, _ in heard] == [ExecutionEventType.ORDER_CREATED]
            await OrderManager(session).acknowledge(order.id, "77", commit=True)
        assert heard[1] == (
            ExecutionEventType.ORDER_STATUS_CHANGED,
            {"from": "pending_submit", "to": "live", "trigger": "accepted", "ordId": "77"},
        )
    finally:
        stop()
    assert REGISTRY.get_sample_value("trading_orders_total", {"status": "pending_submit"}) == created_before + 1


async def test_the_idempotency_lookup_reads_on_the_lane(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session:
        placed = await OrderManager(session).create_order(_limit(), idempotency_key="key-1", commit=True)
    async with factory() as session:
        found = await OrderManager(session).get_by_idempotency_key("key-1")
        assert found is not None and inspect(found).detached and _columns(found) == _columns(placed)
        assert await OrderManager(session).get_by_idempotency_key("key-2") is None
        assert not session.in_transaction()  # nothing left open


async def test_its_failures_are_the_services_usual_database_errors(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        await OrderManager(session).create_order(_limit(), idempotency_key="same", commit=True)
        with pytest.raises(sa_exc.IntegrityError):  # a key that raced in: the routers answer with the first order
            await OrderManager(session).create_order(_limit(), idempotency_key="same", commit=True)

    lane = await DirectLane.open(factory.kw["bind"], size=1, timeout_s=0.2)
    small = create_session_factory(factory.kw["bind"], direct=lane)
    try:
        async with lane._connection() as busy:  # the lane's one connection, held
            async with small() as session:
                with pytest.raises(sa_exc.TimeoutError):  # every connection busy: 503 database_busy
                    await OrderManager(session).create_order(_limit(), idempotency_key="timed-out", commit=True)
            async with factory() as session:
                assert await OrderManager(session).get_by_idempotency_key("timed-out") is None  # nothing written
            async with factory() as session:  # the database drops the connection
                await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": busy.get_server_pid()})
        async with small() as session:  # at most the next call fails (503 database_unavailable); then a new one
            try:
                await OrderManager(session).create_order(_limit(), commit=True)
            except sa_exc.OperationalError:
                await OrderManager(session).create_order(_limit(), commit=True)
    finally:
        await lane.close()


async def test_a_connection_the_server_closes_as_it_goes_back_is_back_without_an_error(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """asyncpg's release checks the connection, then hands it back a loop turn later; closed in between (a
    terminated backend), the pool took it back itself and asyncpg raises InternalClientError ("free connection
    holder"), which replaced the unit of work's own error, or failed one that had succeeded (CI, 2026-12-06)."""
    lane = await DirectLane.open(factory.kw["bind"], size=1, timeout_s=2)
    try:
        connection = await lane._pool.acquire()
        giving_back = asyncio.create_task(lane._give_back(connection))
        await asyncio.sleep(0)  # the release has checked the connection and waits for its next turn
        connection._con.terminate()  # closed now, as when the server's end goes
        await giving_back
        async with lane._connection() as again:  # the pool's one connection is free: a new one is opened
            assert await again.fetchval("SELECT 1") == 1
    finally:
        await lane.close()


async def test_a_connection_is_taken_again_without_the_pool_and_goes_back_to_it_after_an_error(
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane keeps the connection a unit of work ended with normally and gives it to the next one; one that
    ended with an error, a cancellation or a dropped connection goes back to the pool, which waits out or closes
    it, and so does one that a caller is waiting for."""
    lane = await DirectLane.open(factory.kw["bind"], size=1, timeout_s=2)
    small = create_session_factory(factory.kw["bind"], direct=lane)
    checkouts = 0
    pool = lane._pool

    class Counted:
        """The pool, counting its checkouts (an asyncpg pool's attributes are read-only)."""

        def acquire(self, **kwargs: Any) -> Any:
            nonlocal checkouts
            checkouts += 1
            return pool.acquire(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(pool, name)

    monkeypatch.setattr(lane, "_pool", Counted())

    async def create(key: str | None = None) -> Order:
        async with small() as session:
            return await OrderManager(session).create_order(_limit(), idempotency_key=key, commit=True)

    try:
        await create("first")
        [kept] = lane._idle
        await create()
        await create()
        assert checkouts == 1 and lane._idle == [kept]  # one checkout for three units of work

        with pytest.raises(sa_exc.IntegrityError):  # a statement's error: the connection goes back to the pool
            await create("first")
        assert lane._idle == []
        await create()
        assert checkouts == 2 and len(lane._idle) == 1

        async def held() -> None:
            async with lane._connection() as connection:
                await connection.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(held())
        await asyncio.sleep(0.2)
        task.cancel()  # mid-statement: the pool's release waits for PostgreSQL to cancel it
        with pytest.raises(asyncio.CancelledError):
            await task
        assert lane._idle == []
        started = asyncio.get_running_loop().time()
        await create()  # the same one connection, usable at once, not after the five seconds
        assert asyncio.get_running_loop().time() - started < 2 and checkouts == 3

        async def waits_for_the_pool() -> float:
            await asyncio.sleep(0.1)  # while `held` has the one connection
            await create()
            return asyncio.get_running_loop().time()

        async def held_briefly() -> float:
            async with lane._connection() as connection:
                await connection.execute("SELECT pg_sleep(0.3)")
            return asyncio.get_running_loop().time()

        released, served = await asyncio.gather(held_briefly(), waits_for_the_pool())
        assert served - released < 0.5  # handed the connection when it was done, not at its 2 s timeout

        [idle] = lane._idle
        async with factory() as session:  # the database drops the idle connection
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": idle.get_server_pid()})
        try:  # at most the next call fails (503 database_unavailable), and not with the connection kept
            await create()
        except sa_exc.OperationalError:
            assert lane._idle == []
            await create()
        async with factory() as session:
            assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() >= 5
    finally:
        await lane.close()


async def test_idle_connections_the_server_closed_are_not_given_out_again(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """A restart closes every idle connection of the lane; asyncpg's pool takes each back as it closes, leaving
    the lane a proxy that only raises "released back to the pool". Across a restart under load each one failed a
    unit of work (the leader's pushes among them); now the next units of work simply get new connections."""
    lane = await DirectLane.open(factory.kw["bind"], size=2, timeout_s=2)
    small = create_session_factory(factory.kw["bind"], direct=lane)

    async def create() -> Order:
        async with small() as session:
            return await OrderManager(session).create_order(_limit(), commit=True)

    try:
        async with lane._connection() as first, lane._connection() as second:  # two at once, both then kept idle
            await first.execute("SELECT 1")
            await second.execute("SELECT 1")
        idle = list(lane._idle)
        assert len(idle) == 2
        async with factory() as session:
            for connection in idle:
                await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": connection.get_server_pid()})
        for _ in range(100):  # until the client has seen both closed (the pool then takes them back)
            if not any(lane_connection_open(connection) for connection in idle):
                break
            await asyncio.sleep(0.02)
        await create()
        await create()
        assert lane._idle and not set(map(id, lane._idle)) & set(map(id, idle))
    finally:
        await lane.close()


def lane_connection_open(connection: Any) -> bool:
    try:
        return not connection.is_closed()
    except Exception:  # released back to the pool
        return False


class _Groups:
    """Records the size of every group the lane commits (`DirectLane.fetch_many`)."""

    def __init__(self, lane: DirectLane, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        original = lane.fetch_many

        async def fetch_many(statement: Any, parameters: Any) -> Any:
            self.sizes.append(len(parameters))
            return await original(statement, parameters)

        monkeypatch.setattr(lane, "fetch_many", fetch_many)


def _lane(factory: async_sessionmaker[AsyncSession]) -> DirectLane:
    lane = factory.kw["info"]["direct_lane"]
    assert isinstance(lane, DirectLane)
    return lane


class _LaneStatements:
    """Counts the statements the lane runs, alone or in a group, while `counted()`."""

    def __init__(self, lane: DirectLane) -> None:
        self.lane, self.count = lane, 0

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        fetch, fetch_many = self.lane.fetch, self.lane.fetch_many

        async def counted_fetch(statement: Any, parameters: Any, *, group_by: Any = None) -> Any:
            self.count += group_by is None  # a group's are counted as it runs them
            return await fetch(statement, parameters, group_by=group_by)

        async def counted_fetch_many(statement: Any, parameters: Any) -> Any:
            self.count += len(parameters)
            return await fetch_many(statement, parameters)

        self.lane.fetch, self.lane.fetch_many = counted_fetch, counted_fetch_many  # type: ignore[method-assign]
        try:
            yield
        finally:
            del self.lane.fetch, self.lane.fetch_many


async def _create(factory: async_sessionmaker[AsyncSession], key: str | None = None) -> Order:
    async with factory() as session:
        return await OrderManager(session).create_order(_limit(), idempotency_key=key, **WRITE_AHEAD)


async def test_concurrent_write_aheads_share_one_commit_each_with_its_own_row_and_event(
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _Groups(_lane(factory), monkeypatch)
    orders = await asyncio.gather(*(_create(factory, f"g-{n}") for n in range(20)))
    assert groups.sizes == [20]  # one round trip, one commit
    assert len({order.id for order in orders}) == 20
    for n, order in enumerate(orders):
        assert order.idempotency_key == f"g-{n}"  # each call got its own row back
        assert _columns(order) == await _row(factory, order.id)
        assert (await _last_event(factory, order.id))[0] is ExecutionEventType.ORDER_CREATED


async def test_concurrent_acknowledgements_share_one_commit_and_the_same_order_twice_waits_for_the_next(
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [await _create(factory) for _ in range(5)]
    groups = _Groups(_lane(factory), monkeypatch)

    async def acknowledge(order: Order) -> Order:
        async with factory() as session:
            return await OrderManager(session).acknowledge(order.id, f"ex-{order.id}", commit=True)

    acknowledged = await asyncio.gather(*(acknowledge(order) for order in [*reversed(orders), orders[2]]))
    # The five in one group (in id order, whatever the callers' order); the repeat of one in the next, where it
    # moves nothing (the order is live by then), and its read on the lane finds nothing to change either.
    assert groups.sizes == [5, 1]
    assert [order.status for order in acknowledged] == [OrderStatus.LIVE] * 6
    assert [order.exchange_order_id for order in acknowledged[:5]] == [f"ex-{o.id}" for o in reversed(orders)]
    async with factory() as session:
        events = (
            await session.execute(
                select(ExecutionEvent.order_id).where(
                    ExecutionEvent.event_type == ExecutionEventType.ORDER_STATUS_CHANGED
                )
            )
        ).scalars()
        assert sorted(events) == sorted(order.id for order in orders)  # one move each


async def test_an_acknowledgement_a_push_got_ahead_of_is_one_statement_and_changes_nothing(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """With several replicas the leader applies the exchange's pushes, often before the replica that placed the
    order has written the acknowledgement: the order is canceled or filled by then, with its exchange id. The
    acknowledgement's one statement on the lane then returns the row as it is and leaves it (no second statement,
    no session statement, no event); an order the push left in another state, or with another exchange id, still
    takes the general path."""
    pushed, other_id = await _create(factory), await _create(factory)
    async with factory() as session:
        for order, exchange_id in ((pushed, "ex-1"), (other_id, "ex-other")):
            row = await session.get(Order, order.id)
            assert row is not None
            row.status, row.exchange_order_id, row.acknowledged_at, row.finished_at = (
                OrderStatus.CANCELED, exchange_id, AT, AT
            )  # fmt: skip
        await session.commit()
    before = await _row(factory, pushed.id), await _last_event(factory, pushed.id)

    session_statements: list[str] = []
    lane_statements = _LaneStatements(_lane(factory))
    async with factory() as session:
        event.listen(session.sync_session, "do_orm_execute", lambda state: session_statements.append(str(state)))
        with lane_statements.counted():
            answer = await OrderManager(session).acknowledge(pushed.id, "ex-1", commit=True)
        assert session_statements == [] and not session.in_transaction()
    assert lane_statements.count == 1
    assert inspect(answer).detached and _columns(answer) == before[0]
    assert (await _row(factory, pushed.id), await _last_event(factory, pushed.id)) == before

    async with factory() as session:  # the exchange answered with another id than the push: not this shortcut
        event.listen(session.sync_session, "do_orm_execute", lambda state: session_statements.append(str(state)))
        answer = await OrderManager(session).acknowledge(other_id.id, "ex-2", commit=True)
    assert len(session_statements) == 1  # the general path's locked read
    assert answer.status is OrderStatus.CANCELED and answer.exchange_order_id == "ex-other"


async def test_an_acknowledgement_that_waited_for_a_pushs_transaction_returns_the_row_as_that_committed_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """The push's transaction holds the order when the acknowledgement's statement comes: it waits, finds the order
    moved on (no longer theirs to move) and returns the row as the push committed it — not as the statement's
    snapshot, taken before that commit, had it (pending, without an exchange id), which would send it down the
    general path for nothing."""
    order = await _create(factory)
    lane_statements = _LaneStatements(_lane(factory))
    async with factory() as push:
        row = await push.get(Order, order.id, with_for_update=True)
        assert row is not None
        row.status, row.exchange_order_id, row.acknowledged_at, row.finished_at = (
            OrderStatus.CANCELED, "ex-1", AT, AT
        )  # fmt: skip
        await push.flush()
        session_statements: list[str] = []
        async with factory() as session:
            event.listen(session.sync_session, "do_orm_execute", lambda state: session_statements.append(str(state)))
            with lane_statements.counted():
                acknowledging = asyncio.create_task(OrderManager(session).acknowledge(order.id, "ex-1", commit=True))
                await asyncio.sleep(0.3)
                assert not acknowledging.done()  # waiting for the push's row lock
                await push.commit()
                answer = await acknowledging
    assert session_statements == [] and lane_statements.count == 1
    assert answer.status is OrderStatus.CANCELED and answer.exchange_order_id == "ex-1"
    assert _columns(answer) == await _row(factory, order.id)
    assert (await _last_event(factory, order.id))[0] is ExecutionEventType.ORDER_CREATED  # no move of its own


async def test_a_statements_error_in_a_group_is_only_its_own_calls(
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _create(factory, "taken")
    groups = _Groups(_lane(factory), monkeypatch)
    outcomes = await asyncio.gather(
        *(_create(factory, key) for key in ["a", "b", "taken", "c"]), return_exceptions=True
    )
    # The group of four failed as a whole (nothing of it written); each call then ran alone.
    assert groups.sizes == [4]
    assert isinstance(outcomes[2], sa_exc.IntegrityError)
    for outcome, key in zip(outcomes[:2] + outcomes[3:], ["a", "b", "c"], strict=True):
        assert isinstance(outcome, Order) and outcome.idempotency_key == key
        assert _columns(outcome) == await _row(factory, outcome.id)
    async with factory() as session:
        count = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
        assert count == 4  # "taken" once, a, b, c: nothing twice


async def test_a_connections_error_is_every_calls_own_and_nothing_is_written(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    lane = await DirectLane.open(factory.kw["bind"], size=1, timeout_s=0.2)
    small = create_session_factory(factory.kw["bind"], direct=lane)

    async def create(key: str) -> Order:
        async with small() as session:
            return await OrderManager(session).create_order(_limit(), idempotency_key=key, commit=True)

    try:
        async with lane._pool.acquire():  # the lane's one connection, held: the group's wait times out
            outcomes = await asyncio.gather(*(create(f"t-{n}") for n in range(3)), return_exceptions=True)
        assert all(isinstance(outcome, sa_exc.TimeoutError) for outcome in outcomes)
        assert len({id(outcome) for outcome in outcomes}) == 3  # each its own exception object
        async with factory() as session:
            assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 0
        assert isinstance(await create("after"), Order)  # and the lane goes on
    finally:
        await lane.close()


async def test_a_caller_that_goes_away_does_not_take_its_group_with_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    tasks = [asyncio.create_task(_create(factory, f"c-{n}")) for n in range(4)]
    await asyncio.sleep(0)  # every call is in the group
    tasks[0].cancel()
    done = await asyncio.gather(*tasks[1:])
    assert [order.idempotency_key for order in done] == ["c-1", "c-2", "c-3"]
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]


def _push(order: Order, state: str, acc_fill_sz: str, **fill: str) -> dict[str, Any]:
    """An `orders` channel push of `order`, as OKX sends it (the last fill's fields repeat on later pushes)."""
    return {
        "instType": "SPOT", "instId": order.instrument_id, "ordId": order.exchange_order_id,
        "clOrdId": order.client_order_id, "px": "49000", "sz": "0.5", "ordType": "limit", "side": "buy",
        "posSide": "net", "tdMode": "cash", "state": state, "accFillSz": acc_fill_sz, "avgPx": "49000",
        "fillPx": "49000", "fillTime": "1764417600000", "feeCcy": "BTC", "fillFeeCcy": "BTC", "execType": "T",
        "cTime": "1764417600000", "uTime": "1764417600000", **fill,
    }  # fmt: skip


async def test_a_push_repeating_a_stored_fill_is_one_statement(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    """An OKX order object carries its last fill's fields, so a later push repeats them (here a cancel after a
    partial fill): once the tracker has applied the fill, the next push's status change is one statement on the
    lane, not the ORM's unit of work, and the fill is stored once."""
    async with factory() as session:
        manager = OrderManager(session)
        order = await manager.create_order(_limit(), commit=True)
        order = await manager.acknowledge(order.id, "E1", commit=True)
        tracker = OrderTracker(okx, manager, session_factory=factory, ws_url="ws://127.0.0.1:1")
    with _session_statements(factory) as statements:
        fill = {"tradeId": "T1", "fillSz": "0.2", "fee": "-0.0002", "fillFee": "-0.0002"}
        partly = await tracker.apply_push(_push(order, "partially_filled", "0.2", **fill))
        assert partly is not None and partly.filled_size == D("0.2") and statements  # the general path
        statements.clear()
        canceled = await tracker.apply_push(_push(order, "canceled", "0.2", **fill))
        assert canceled is not None and canceled.status is OrderStatus.CANCELED
        assert statements == []  # nothing through the session: one statement on the lane
    async with factory() as session:
        trades = (await session.execute(select(Trade))).scalars().all()
        position = (await session.execute(select(Position))).scalar_one()
        assert [(t.exchange_trade_id, t.size) for t in trades] == [("T1", D("0.2"))]
        assert position.size == D("0.1998")  # 0.2 bought, less the 0.0002 BTC fee
        stored = await session.get(Order, order.id)
        assert stored is not None and (stored.status, stored.filled_size) == (OrderStatus.CANCELED, D("0.2"))


async def test_a_fill_on_the_lane_whose_trade_was_stored_before_writes_nothing_and_tells_nobody(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The lane writes the trade with the rest, so that a trade already stored (which the order lock makes rare:
    built here by writing the trade row alone) leaves the order, the position and the events as they were, and what
    the lane's objects were told is not announced; the general path then applies the push, and stores no trade."""
    async with factory() as session:
        manager = OrderManager(session)
        first = await manager.acknowledge((await manager.create_order(_limit(), commit=True)).id, "F1", commit=True)
        order = await manager.acknowledge((await manager.create_order(_limit(), commit=True)).id, "F2", commit=True)
    tracker = OrderTracker(okx, session_factory=factory, ws_url="ws://127.0.0.1:1")
    opened = await tracker.apply_push(_push(first, "filled", "0.5", tradeId="T1", fillSz="0.5", fillFee="-0.0005"))
    assert opened is not None and opened.status is OrderStatus.FILLED  # the position exists: the lane is open
    async with factory() as session:  # T2 stored, its order not moved: what the lane must not write over
        await session.execute(
            Trade.__table__.insert().values(
                order_id=order.id, exchange_trade_id="T2", instrument_id="BTC-USDT", side=OrderSide.BUY,
                price=D("49000"), size=D("0.2"), executed_at=AT, created_at=AT,
            )
        )  # fmt: skip
        await session.commit()
        position_before = _columns((await session.execute(select(Position))).scalar_one())
        events_before = (await session.execute(select(func.count()).select_from(ExecutionEvent))).scalar_one()
    heard: list[ExecutionEventType] = []
    stop = listen_committed(lambda event_type, data: heard.append(event_type))
    try:
        applied = await tracker.apply_push(
            _push(order, "partially_filled", "0.2", tradeId="T2", fillSz="0.2", fillFee="-0.0002")
        )
    finally:
        stop()
    assert applied is not None and applied.filled_size == 0  # the general path found the fill stored: no new fill
    assert ExecutionEventType.ORDER_FILLED not in heard and ExecutionEventType.POSITION_UPDATED not in heard
    async with factory() as session:
        assert (await session.execute(select(Trade.exchange_trade_id).order_by(Trade.id))).scalars().all() == [
            "T1",
            "T2",
        ]
        assert _columns((await session.execute(select(Position))).scalar_one()) == position_before
        fill_events = await session.execute(
            select(func.count())
            .select_from(ExecutionEvent)
            .where(ExecutionEvent.id > 0, ExecutionEvent.event_type == ExecutionEventType.ORDER_FILLED)
        )
        assert fill_events.scalar_one() == 1  # the first order's only
        events_after = (await session.execute(select(func.count()).select_from(ExecutionEvent))).scalar_one()
        assert events_after - events_before == len(heard)  # what was written is what was announced


async def _live_orders(factory: async_sessionmaker[AsyncSession], count: int, prefix: str) -> list[Order]:
    """`count` orders written ahead and acknowledged (exchange ids `<prefix>0`, `<prefix>1`, …)."""
    orders = []
    async with factory() as session:
        manager = OrderManager(session)
        for n in range(count):
            order = await manager.create_order(_limit(), commit=True)
            orders.append(await manager.acknowledge(order.id, f"{prefix}{n}", commit=True))
    return orders


async def test_pushes_of_the_trackers_own_orders_find_them_by_id_and_are_group_committed(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = await _live_orders(factory, 4, "E")
    tracker = OrderTracker(okx, session_factory=factory, ws_url="ws://127.0.0.1:1")
    for order in orders[:3]:  # placed by this replica: the tracker knows their ids
        await tracker.start_tracking(order.id, instrument_id=order.instrument_id, client_order_id=order.client_order_id)
    groups = _Groups(_lane(factory), monkeypatch)

    applied = await asyncio.gather(*(tracker.apply_push(_push(order, "canceled", "0")) for order in orders))
    # The three by id in one group; the fourth (another replica's, say) found by its clOrdId, in a group of that
    # statement's.
    assert groups.sizes == [3, 1]
    for order, result in zip(orders, applied, strict=True):
        assert result is not None and result.id == order.id and result.status is OrderStatus.CANCELED
        assert _columns(result) == await _row(factory, order.id)
        assert (await _last_event(factory, order.id))[0] is ExecutionEventType.ORDER_CANCELED
    assert tracker._ids == {}  # finished orders are forgotten


async def test_pushes_found_by_clordid_are_group_committed_and_a_locked_order_waits_on_the_general_path(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes of orders the tracker has no id for (another replica placed them) are found by clOrdId and committed
    together; their statement skips a row another transaction holds (FOR UPDATE SKIP LOCKED), so a group never
    waits for a lock, and that order's push takes the general path, which waits for it."""
    orders = await _live_orders(factory, 3, "K")
    tracker = OrderTracker(okx, session_factory=factory, ws_url="ws://127.0.0.1:1")
    groups = _Groups(_lane(factory), monkeypatch)
    held = orders[1]
    async with factory() as holder:
        await holder.execute(select(Order).where(Order.id == held.id).with_for_update())  # another writer's lock
        pushes = [asyncio.create_task(tracker.apply_push(_push(order, "canceled", "0"))) for order in orders]
        done, _ = await asyncio.wait(pushes, timeout=2)
        assert {task for task in pushes if task in done} == {pushes[0], pushes[2]}  # the group did not wait
        await holder.commit()  # released: the held order's push goes on, on the general path
    applied = await asyncio.gather(*pushes)
    assert groups.sizes == [3]  # one group; it skipped the held row
    for order, result in zip(orders, applied, strict=True):
        assert result is not None and result.status is OrderStatus.CANCELED
        assert _columns(result) == await _row(factory, order.id)
    async with factory() as session:
        canceled = (
            await session.execute(
                select(ExecutionEvent.order_id).where(ExecutionEvent.event_type == ExecutionEventType.ORDER_CANCELED)
            )
        ).scalars()
        assert sorted(canceled) == sorted(order.id for order in orders)  # each once


async def test_a_wrong_belief_that_a_push_brings_no_fill_costs_a_round_trip_never_a_fill(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with factory() as session:
        manager = OrderManager(session)
        order = await manager.create_order(_limit(), commit=True)
        order = await manager.acknowledge(order.id, "E2", commit=True)
    pushed = _push(order, "filled", "0.5", tradeId="T2", fillSz="0.5", fillFee="-0.0005")
    snapshot = parse(okx_models.Order, pushed, what="order push")
    async with factory() as session:
        result = await ExchangeOrderSync(okx, session).apply(
            snapshot,
            from_push=True,
            commit=True,
            known_filled=D("0.5"),  # wrong: nothing is stored yet
        )
    assert result.new_fills == 1 and result.order.status is OrderStatus.FILLED
    async with factory() as session:
        assert (await session.execute(select(Trade.size))).scalars().all() == [D("0.5")]


# (side, size, price, pushes as (state, accFillSz, fillSz), fee currency: base or quote, whether the exchange's
# answer to the submit is stored before the pushes or only after them)
FILLS = [
    ("buy", "0.5", "100", [("filled", "0.5", "0.5")], "base", True),  # opens (the instrument's first fill)
    ("buy", "0.3", "110", [("partially_filled", "0.1", "0.1"), ("filled", "0.3", "0.2")], "quote", True),  # adds
    ("sell", "0.4", "120", [("filled", "0.4", "0.4")], "quote", False),  # reduces, realizes; pushed before the ack
    ("sell", "0.9", "90", [("partially_filled", "0.5", "0.5"), ("canceled", "0.5", "0.5")], "base", True),  # flips
    ("buy", "0.1", "95", [("filled", "0.1", "0.1")], "quote", True),  # closes the short
]


async def _fill_sequence(
    okx: OKXClient,
    factory: async_sessionmaker[AsyncSession],
    instrument_id: str,
    *,
    on_lane: bool,
    found_by: fill_statements.FoundBy = "cl_ord_id",
) -> tuple[list[int], int]:
    """FILLS on one instrument, each push applied as the tracker applies it, on the lane or (a session with a
    transaction of its own) on the general path; `found_by`: what the push and the caller give the lane to find
    the order with (our id: the tracker, for the orders it placed; the clOrdId alone; the exchange's ordId alone,
    a push without a clOrdId). Returns the orders' ids and how many statements went through the session for pushes
    after the instrument's first fill."""
    base, quote = instrument_id.split("-")
    statements: list[str] = []
    order_ids, trade_number = [], 0
    for step, (side, size, price, pushes, fee_in, acknowledged_first) in enumerate(FILLS):
        exchange_id = f"{instrument_id}-{step}"
        async with factory() as session:
            manager = OrderManager(session)
            params = OrderParams(instrument_id, OrderSide(side), OrderType.LIMIT, D(size), D(price))
            order = await manager.create_order(params, commit=True)
            # A push without a clOrdId finds only an order that has the exchange's id.
            acknowledged_first = acknowledged_first or found_by == "exchange_ids"
            if acknowledged_first:
                order = await manager.acknowledge(order.id, exchange_id, commit=True)
            order_ids.append(order.id)
        known_filled = D(0)  # as the tracker remembers it
        for state, acc_fill_sz, fill_sz in pushes:
            trade_number += 1
            fee = f"-{D(fill_sz) * D('0.001')}" if fee_in == "base" else f"-{D(fill_sz) * D(price) * D('0.001')}"
            push = {
                **_push(order, state, acc_fill_sz, tradeId=f"T{trade_number}", fillSz=fill_sz, fillFee=fee),
                "instId": instrument_id, "ordId": exchange_id, "side": side, "px": price, "sz": size, "fillPx": price,
                "fillFeeCcy": base if fee_in == "base" else quote,
            }  # fmt: skip
            if found_by == "exchange_ids":
                push["clOrdId"] = ""  # as OKX sends an order placed without one
            snapshot = parse(okx_models.Order, push, what="order push")
            with _session_statements(factory, into=statements):
                async with factory() as session:
                    if not on_lane:
                        await _in_transaction(session)
                        statements.clear()
                    result = await ExchangeOrderSync(okx, session).apply(
                        snapshot,
                        from_push=True,
                        commit=True,
                        known_filled=known_filled,
                        order_id=order.id if found_by == "id" else None,
                    )
                    assert result.order.status.value == state
                    known_filled = result.order.filled_size
        if not acknowledged_first:  # the answer to the submit, stored late, changes nothing
            async with factory() as session:
                late = await OrderManager(session).acknowledge(order.id, exchange_id, commit=True)
                assert (late.status.value, late.exchange_order_id) == (pushes[-1][0], exchange_id)
        if step == 0:
            statements.clear()  # the first fill creates the position: the general path, both ways
    return order_ids, len(statements)


def _comparable(row: dict[str, Any], instrument_id: str) -> dict[str, Any]:
    base = instrument_id.split("-")[0]
    skip = {"id", "order_id", "trade_id", "position_id", "created_at", "updated_at", "client_order_id", "ordId"}
    skip |= {"acknowledged_at"}  # when each order was acknowledged: now
    skip |= {"exchange_order_id", "exchange_trade_id", "instrument_id"}
    return {k: ("BASE" if v == base else v) for k, v in row.items() if k not in skip}


@pytest.mark.parametrize("found_by", ["id", "cl_ord_id", "exchange_ids"])
async def test_the_lane_fills_exactly_as_the_general_path(
    okx: OKXClient,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    found_by: fill_statements.FoundBy,
) -> None:
    """The same fills (open, add in two fills, reduce, flip short in a fill and a cancel, close the short), fees in
    the base and in the quote currency, on BTC-USDT through the lane and on ETH-USDT through the general path: the
    trades, the orders, the position and every event come out the same, however the lane finds the order."""
    locks: list[str] = []
    lock_statement = fill_statements.lock_statement
    monkeypatch.setattr(fill_statements, "lock_statement", lambda how: locks.append(how) or lock_statement(how))
    heard: list[tuple[ExecutionEventType, str]] = []
    stop = listen_committed(lambda event_type, data: heard.append((event_type, data.get("to", ""))))
    try:
        lane_orders, lane_statements = await _fill_sequence(okx, factory, "BTC-USDT", on_lane=True, found_by=found_by)
        heard_on_lane, heard[:] = heard[:], []
        general_orders, general_statements = await _fill_sequence(
            okx, factory, "ETH-USDT", on_lane=False, found_by=found_by
        )
    finally:
        stop()
    assert lane_statements == 0 and general_statements > 0  # the lane took every fill after the first
    assert locks and set(locks) == {found_by}  # and found its orders the way asked
    assert heard_on_lane == heard and len(heard) > 20  # the same effects outside the database, once each

    async with factory() as session:
        for lane_id, general_id in zip(lane_orders, general_orders, strict=True):
            rows = {}
            for order_id, instrument in ((lane_id, "BTC-USDT"), (general_id, "ETH-USDT")):
                order = await session.get(Order, order_id)
                assert order is not None
                trades = await session.execute(select(Trade).where(Trade.order_id == order_id).order_by(Trade.id))
                events = await session.execute(
                    select(ExecutionEvent).where(ExecutionEvent.order_id == order_id).order_by(ExecutionEvent.id)
                )
                rows[instrument] = (
                    _comparable(_columns(order), instrument),
                    [_comparable(_columns(t), instrument) for t in trades.scalars()],
                    # Its creation and acknowledgement happened now; the rest at the exchange's times.
                    [
                        (e.event_type, _comparable(e.data, instrument), e.occurred_at if n > 1 else None)
                        for n, e in enumerate(events.scalars())
                    ],
                )
            for lane_part, general_part in zip(rows["BTC-USDT"], rows["ETH-USDT"], strict=True):
                assert lane_part == general_part
        positions = {
            p.instrument_id: _comparable(_columns(p), p.instrument_id)
            for p in (await session.execute(select(Position))).scalars()
        }
    assert positions["BTC-USDT"] == positions["ETH-USDT"]
    # The fees charged in the base currency (0.1 %: 0.0005 on the first buy, 0.0005 on the flipping sell) come out
    # of the position: 0.4995 + 0.3 - 0.4 - 0.5005 (short 0.101) + 0.1.
    assert positions["BTC-USDT"]["size"] == D("-0.001")
    # Gross of fees: 0.4 x (120 - a) + 0.3995 x (90 - a) - 0.1 x (95 - 90), a = 82.95 / 0.7995 the average after
    # adding; 0.7995 x a = 82.95, so 48 + 35.955 - 82.95 - 0.5 (to the 40 digits a is carried at).
    assert abs(positions["BTC-USDT"]["realized_pnl"] - D("0.505")) < D("1e-30")


async def test_a_fill_given_a_wrong_id_writes_nothing_on_it_and_is_applied_to_its_own_order(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The lane finds an order by our id only together with its clOrdId: a stale or wrong id (another order's)
    matches no row, and the general path applies the fill to the order the exchange's ids name."""
    first, order = await _live_orders(factory, 2, "W")
    tracker = OrderTracker(okx, session_factory=factory, ws_url="ws://127.0.0.1:1")
    opened = await tracker.apply_push(_push(first, "partially_filled", "0.1", tradeId="T1", fillSz="0.1"))
    assert opened is not None and opened.filled_size == D("0.1")  # the position exists: the lane is open
    first_before = await _row(factory, first.id)
    snapshot = parse(okx_models.Order, _push(order, "filled", "0.5", tradeId="T2", fillSz="0.5"), what="order push")
    async with factory() as session:
        result = await ExchangeOrderSync(okx, session).apply(
            snapshot, from_push=True, commit=True, known_filled=D(0), order_id=first.id
        )
    assert result.order.id == order.id and result.new_fills == 1 and result.order.status is OrderStatus.FILLED
    assert await _row(factory, first.id) == first_before
    async with factory() as session:
        trades = (await session.execute(select(Trade.order_id, Trade.size).order_by(Trade.id))).all()
        assert trades == [(first.id, D("0.1")), (order.id, D("0.5"))]
        assert (await session.execute(select(Position.size))).scalar_one() == D("0.6")


async def test_concurrent_fills_of_one_position_on_the_lane_are_each_applied_once_in_turn(
    okx: OKXClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    """Fills of different orders of one instrument, applied at once (as the tracker applies pushes of different
    orders): each takes the lane, they wait for one another on the position's row lock, and each is applied to the
    position the one before left; the orders and positions handed back are the rows as stored."""
    first, *orders = await _live_orders(factory, 5, "C")
    tracker = OrderTracker(okx, session_factory=factory, ws_url="ws://127.0.0.1:1")
    opened = await tracker.apply_push(_push(first, "filled", "0.5", tradeId="C-T0", fillSz="0.5"))
    assert opened is not None and opened.status is OrderStatus.FILLED  # the position exists: the lane is open
    with _session_statements(factory) as statements:
        pushes = [_push(order, "filled", "0.5", tradeId=f"C-T{n + 1}", fillSz="0.5") for n, order in enumerate(orders)]
        applied = await asyncio.gather(*(tracker.apply_push(push) for push in pushes))
    assert statements == []  # every one on the lane
    async with factory() as session:
        trades = (await session.execute(select(Trade.exchange_trade_id, Trade.size))).all()
        assert sorted(trades) == [(f"C-T{n}", D("0.5")) for n in range(5)]
        position = (await session.execute(select(Position))).scalar_one()
        assert (position.size, position.average_entry_price) == (D("2.5"), D("49000"))
        filled_events = select(func.count()).where(ExecutionEvent.event_type == ExecutionEventType.ORDER_FILLED)
        assert (await session.execute(filled_events)).scalar_one() == 5
    for order in applied:
        assert order is not None and order.status is OrderStatus.FILLED
        assert _columns(order) == await _row(factory, order.id)
