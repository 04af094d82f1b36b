"""The garbage collector's settings for a long-running process: the service, the simulator, the load clients."""

from __future__ import annotations

import asyncio
import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_what_stays", "settle_heap"]

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


async def freeze_what_stays(every_s: float = 1.0) -> None:
    """For a process whose state only grows and is never given up (the standalone simulator keeps every order and
    fill it was ever sent): every `every_s`, collect the young generations, then freeze what survived, so no
    collection ever walks the whole history again.

    Without it, the simulator's collections grew with its history and paused the exchange in the middle of the
    orders it answers: a middle-generation collection of 73 ms 64 s into every `benchmarks/load.py` run at 500/s,
    full ones of 110 ms and more later (measured with gc.callbacks, 2026-12-06). Objects that are freed by their
    reference counts still are; only a reference cycle that was alive at a freeze and dies later is never
    collected. Not for the service, whose requests make such cycles all the time."""
    while True:
        await asyncio.sleep(every_s)
        gc.collect(1)
        gc.freeze()
