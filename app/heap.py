"""The garbage collector's settings for a long-running process: the service, the simulator, the load clients."""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

# Net allocations of tracked objects between two collections of the youngest generation (Python's default: 700).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Once started: move everything made so far (modules, mappers, schemas, routes: several hundred thousand
    objects) out of the collector's reach, and collect the young generation less often.

    Without the freeze every full collection walks all of it: a pause of ~90 ms in the middle of an order, measured
    as the whole p99 of `benchmarks/load.py` at 50 orders/s (with it: ~6 ms). With Python's thresholds after it,
    under load (`benchmarks/load.py`, one replica, 32 clients, 2026-11-29) the service still spent ~2.2 s of ~26 s
    of CPU collecting (1,500 young collections, ~12 full ones of ~60 ms; the longest pause 113–119 ms, in the p99);
    with 10,000 ~0.25 s (about 20 young collections, one middle one), the longest pause 45–49 ms, and the same
    memory (RSS 172–180 MB either way). Cyclic garbage is still collected, only in larger batches."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
