"""How late this process's event loop runs what is due: a timer's lateness, as a Prometheus histogram.

Every request, exchange answer, push and database reply of a replica shares one event loop, so when callbacks queue
behind one another (the CPU busy elsewhere, a long synchronous step, a collector pause) everything waits, and the
API's latency shows it without saying why. This says it directly: a task asks to be woken every `interval_s` and
records how much later than asked it ran (`service_event_loop_lag_seconds`). A p99 here close to the API's p99 means
the time went to the queue in this process, not to PostgreSQL or the exchange. It costs ten wake-ups a second.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

from app.tasks import stop_tasks

__all__ = ["LOOP_LAG", "LoopLagMonitor"]

LOOP_LAG = Histogram(
    "service_event_loop_lag_seconds",
    "How much later than due a timer on the event loop ran (the queue every callback of this process waits in)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class LoopLagMonitor:
    def __init__(self, interval_s: float = 0.1, histogram: Histogram = LOOP_LAG) -> None:
        self.interval_s = interval_s
        self.histogram = histogram
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task], timeout_s=1.0)
            self._task = None

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.histogram.observe(max(0.0, time.perf_counter() - due))
