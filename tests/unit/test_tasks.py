"""Stopping background tasks ends them even when one swallows a cancellation, and never waits without bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import pytest

from app.tasks import stop_tasks


async def _loop_around_wait_for(wake: asyncio.Event, rounds: list[int]) -> None:
    """The shape that hung the event feed: a loop around `wait_for` on an event (the pre-fix code)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), 1)
        wake.clear()
        rounds.append(1)
        await asyncio.sleep(0.01)


async def test_a_task_that_swallowed_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    wake, rounds = asyncio.Event(), []
    task = asyncio.create_task(_loop_around_wait_for(wake, rounds))
    await asyncio.sleep(0.05)
    wake.set()  # the wait completes in the same loop iteration as the cancellation below
    await stop_tasks([task], timeout_s=5)
    assert task.done()
    if sys.version_info < (3, 12):
        assert rounds, "on 3.11 the first cancellation is swallowed: the loop ran on, and stop_tasks still ended it"


async def test_a_task_that_will_not_end_is_left_behind_after_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.ERROR, logger="app.tasks"):
        await stop_tasks([task], timeout_s=0.5)
    assert loop.time() - started < 2
    assert not task.done()
    assert "['stubborn'] did not end within" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.done()


async def test_failed_and_finished_tasks_are_fine_to_stop() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await stop_tasks([failed, finished, asyncio.create_task(asyncio.sleep(10))])
    assert failed.done() and finished.done()
