"""`app.loop_lag`: the event loop's lateness, measured by a timer."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Histogram

from app.loop_lag import LoopLagMonitor


def _observations(registry: CollectorRegistry) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of the histogram's buckets."""
    samples = [s for metric in registry.collect() for s in metric.samples if s.name.endswith("_bucket")]
    return [(float(s.labels["le"]), s.value) for s in samples]


async def test_a_loop_held_by_a_synchronous_step_is_recorded_as_that_late() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "test", buckets=(0.01, 0.1, 0.25, 1.0), registry=registry)
    monitor = LoopLagMonitor(interval_s=0.02, histogram=histogram)
    monitor.start()
    try:
        await asyncio.sleep(0.1)  # a free loop: its timers run about on time
        quiet = dict(_observations(registry))
        assert quiet[float("inf")] >= 2
        time.sleep(0.3)  # the loop held: the timer due meanwhile runs ~0.28 s late
        await asyncio.sleep(0.05)
        held = dict(_observations(registry))
        assert held[float("inf")] - held[0.25] >= 1 > quiet[float("inf")] - quiet[0.25]
        assert held[1.0] == held[float("inf")]  # late by the hold, not by more
    finally:
        await monitor.stop()
