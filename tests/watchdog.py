"""A per-test watchdog: a test that hangs fails with every asyncio task's and every thread's stack, instead of
stalling the whole run until CI's own limit kills it with nothing to show.

All tests share one event loop (the session's), so a hang is usually an await that never completes while the
loop idles. After `WATCHDOG_TIMEOUT_S` (default 240 s, well above the slowest test) the watchdog prints the stacks
to the terminal and cancels the test's coroutine (or the fixture setup/teardown it is stuck in), so that test
fails and the run goes on. If nothing ends within a further grace period (the loop itself is blocked), it prints
the threads' stacks again and ends the run with status 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import io
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

TIMEOUT_S = float(os.environ.get("WATCHDOG_TIMEOUT_S", "240"))
GRACE_S = 60.0
# Coroutines pytest-asyncio runs for a fixture's setup and teardown (besides the test function itself).
_PYTEST_ASYNCIO_COROUTINES = {"setup", "async_finalizer"}

_session_loop: asyncio.AbstractEventLoop | None = None


@pytest.fixture(scope="session", autouse=True)
async def _watchdog_loop() -> AsyncIterator[None]:
    """Remembers the session's event loop, the one every test and fixture runs on."""
    global _session_loop
    _session_loop = asyncio.get_running_loop()
    yield
    _session_loop = None


def _task_stacks(loop: asyncio.AbstractEventLoop) -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks(loop):
        print(f"--- {task!r}", file=out)
        task.print_stack(limit=40, file=out)
    return out.getvalue()


class _Watchdog:
    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.done = threading.Event()

    def _write(self, text: str, *, threads: bool = True) -> None:
        """To the real terminal, past pytest's capture, which would hold it until the hung test ends."""
        capman = self.item.config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            sys.stderr.write(text)
            if threads:
                sys.stderr.write("threads:\n")
                sys.stderr.flush()
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()

    def _cancel_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on the event loop (so it can see the tasks): dump them, then cancel the test's own."""
        self._write(f"\nwatchdog: {self.item.nodeid} still running after {TIMEOUT_S:.0f} s; asyncio tasks:\n")
        self._write(_task_stacks(loop), threads=False)
        names = {getattr(self.item, "originalname", self.item.name), *_PYTEST_ASYNCIO_COROUTINES}
        for task in asyncio.all_tasks(loop):
            code = getattr(task.get_coro(), "cr_code", None)
            if code is not None and code.co_name in names:
                task.cancel(f"watchdog: {self.item.nodeid} ran longer than {TIMEOUT_S:.0f} s")

    def run(self) -> None:
        if self.done.wait(TIMEOUT_S):
            return
        loop = _session_loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._cancel_on_loop, loop)
        else:
            self._write(f"\nwatchdog: {self.item.nodeid} still running after {TIMEOUT_S:.0f} s, not on the loop\n")
        if self.done.wait(GRACE_S):
            return
        self._write(f"\nwatchdog: {self.item.nodeid} did not end {GRACE_S:.0f} s later either; ending the run\n")
        os._exit(3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    watchdog = _Watchdog(item)
    threading.Thread(target=watchdog.run, name=f"watchdog {item.nodeid}", daemon=True).start()
    try:
        yield
    finally:
        watchdog.done.set()
