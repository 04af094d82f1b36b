"""`app.heap`: what a long-running process does to the garbage collector once it has started."""

from __future__ import annotations

import gc

from app.heap import YOUNG_THRESHOLD, settle_heap


def test_settling_freezes_what_exists_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
