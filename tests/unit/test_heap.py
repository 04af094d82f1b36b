"""`app.heap`: what a long-running process does to the garbage collector once it has started."""

from __future__ import annotations

import asyncio
import gc
import weakref

from app.heap import YOUNG_THRESHOLD, freeze_what_stays, settle_heap


def test_settling_freezes_what_exists_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


class _Leaf:
    pass


async def test_what_stays_is_frozen_and_cyclic_garbage_is_collected_first() -> None:
    kept = _Leaf()
    freed = weakref.ref(kept)
    garbage = _Node()
    collected = weakref.ref(garbage)
    del garbage
    gc.disable()  # only the task below collects
    task = asyncio.create_task(freeze_what_stays(every_s=0.01))
    try:
        await asyncio.sleep(0.05)
        assert collected() is None  # the cycle was collected before the freeze, not frozen with it
        assert not any(o is kept for o in gc.get_objects())  # frozen: out of the collector's reach
        del kept
        assert freed() is None  # and still freed by its reference count
    finally:
        task.cancel()
        gc.enable()
        gc.unfreeze()
