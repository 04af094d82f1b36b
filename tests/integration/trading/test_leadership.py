"""Leadership over a real PostgreSQL, its lock's connection through a proxy that can stall or cut it: a slow answer
keeps the lead, an ended session or a long silence ends it without waiting on the connection, and another replica
takes the lock once PostgreSQL has let it go."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.services.trading.leadership import Leadership
from tests.tcp_proxy import StallingProxy

pytestmark = pytest.mark.postgres_only

RETRY_S = 0.1


@pytest.fixture
async def proxy(empty_database_url: str) -> AsyncIterator[StallingProxy]:
    url = make_url(empty_database_url)
    async with StallingProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
async def engines(empty_database_url: str, proxy: StallingProxy) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """The leader's engine (through the proxy) and a standby's (straight to PostgreSQL)."""
    through = create_engine(
        make_url(empty_database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    direct = create_engine(empty_database_url)
    yield through, direct
    await through.dispose()
    await direct.dispose()


async def _leading(engine: AsyncEngine, silence_limit_s: float) -> tuple[Leadership, asyncio.Task[None]]:
    leadership = Leadership(engine, retry_s=RETRY_S, silence_limit_s=silence_limit_s)
    await leadership.acquire()
    assert leadership.is_leader
    return leadership, asyncio.create_task(leadership.watch())


async def _standby_takes_over_within(engine: AsyncEngine, seconds: float) -> Leadership:
    standby = Leadership(engine, retry_s=RETRY_S)
    async with asyncio.timeout(seconds):
        await standby.acquire()
    return standby


async def test_a_lock_connection_that_answers_late_keeps_the_lead(
    engines: tuple[AsyncEngine, AsyncEngine], proxy: StallingProxy
) -> None:
    """1.5 s of silence (a starved machine): the check waits for its answer, and nobody else can take the lock.
    Until 2026-12-06 a check unanswered after 1 s stood the leader down."""
    through, direct = engines
    leader, watching = await _leading(through, silence_limit_s=5.0)
    proxy.hold()
    await asyncio.sleep(1.5)
    assert not await Leadership(direct).try_acquire()  # the lock is still the leader's session's
    proxy.release()
    await asyncio.sleep(5 * RETRY_S)
    assert not watching.done()
    assert leader.is_leader
    watching.cancel()
    await leader.release()
    standby = await _standby_takes_over_within(direct, 2.0)  # given back on release
    await standby.release()


async def test_a_session_the_server_ended_ends_the_lead_at_once_and_a_standby_takes_over(
    engines: tuple[AsyncEngine, AsyncEngine], proxy: StallingProxy
) -> None:
    through, direct = engines
    leader, watching = await _leading(through, silence_limit_s=30.0)
    started = time.monotonic()
    await proxy.cut()
    async with asyncio.timeout(2.0):  # an error at once, not the 30 s silence limit
        await watching
    assert not leader.is_leader
    standby = await _standby_takes_over_within(direct, 3.0)
    assert standby.is_leader
    assert time.monotonic() - started < 3.0
    await standby.release()


async def test_a_lock_connection_silent_past_the_limit_ends_the_lead_without_waiting_on_it(
    engines: tuple[AsyncEngine, AsyncEngine], proxy: StallingProxy
) -> None:
    """A partition: nothing answers. After the silence limit the leader stops leading and drops the connection
    (SQLAlchemy gives a dropped connection 2 s to close politely; giving the lock back over it would wait as long
    as the partition lasts); the lock is PostgreSQL's to free when its side of the connection ends, after which a
    standby takes it."""
    through, direct = engines
    leader, watching = await _leading(through, silence_limit_s=1.0)
    proxy.hold()
    started = time.monotonic()
    async with asyncio.timeout(5.0):
        await watching
    assert not leader.is_leader
    assert time.monotonic() - started < 1.0 + RETRY_S + 2.0 + 1.0
    await leader.release()  # the runtime's stand-down calls it again: nothing left to wait on
    await proxy.cut()  # PostgreSQL's side of the connection ends
    standby = await _standby_takes_over_within(direct, 3.0)
    await standby.release()
