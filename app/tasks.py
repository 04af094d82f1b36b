"""Stopping background tasks: bounded, and proof against a cancellation the task swallowed.

A task can survive one `cancel()`: on Python 3.11, `asyncio.wait_for` returns the inner result instead of raising
when the cancellation arrives in the same loop iteration as that result (CPython gh-86296, fixed in 3.12), and a
loop around it then runs on forever. `await task` after `task.cancel()` would then wait forever, so a stop that
must end cancels again until the task is done, and gives up (logged) after `timeout_s`. The service's own code
uses `asyncio.timeout`, which does not have that flaw; this guards against the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

__all__ = ["stop_tasks"]

log = logging.getLogger(__name__)

# A task that is cancelled cleans up (rolls back, closes a socket) before it ends: it gets this long before it is
# cancelled again, so a cancellation that was honoured is never cut short by the next one.
RECANCEL_S = 1.0


async def stop_tasks(tasks: Iterable[asyncio.Task[object]], *, timeout_s: float = 10.0) -> None:
    """Cancel `tasks` and wait until all have ended, cancelling again any that carried on, at most `timeout_s`.
    Their results and errors are not raised here (a task that failed has logged it, or is being stopped anyway)."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            names = sorted(task.get_name() for task in pending)
            log.error("stopping: %s did not end within %.0f s; left behind", names, timeout_s)
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_S, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a task that failed while stopping is not also "never retrieved"
