"""FillLagGate: new orders pass while the fills are within the limit, wait while they are behind, and are refused
only if the lag lasts the whole wait. OrderAdmission: before that, they wait for a replica that is still starting."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.services.trading.admission import FillLagGate, OrderAdmission
from app.services.trading.errors import FillsBehind, StillStarting


class Lag:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.seconds


async def test_within_the_limit_an_order_passes_at_once() -> None:
    gate = FillLagGate(Lag(1.9), limit_s=2.0)
    started = time.monotonic()
    await gate.admit()
    assert time.monotonic() - started < 0.01
    assert gate._watcher is None  # nothing to watch


async def test_a_gate_with_no_limit_never_holds() -> None:
    await FillLagGate(Lag(1000.0), limit_s=0.0).admit()


async def test_behind_the_limit_orders_wait_and_all_pass_once_the_fills_catch_up() -> None:
    lag = Lag(3.0)
    gate = FillLagGate(lag, limit_s=2.0, wait_s=5.0, check_every_s=0.01)
    waiting = [asyncio.create_task(gate.admit()) for _ in range(50)]
    await asyncio.sleep(0.1)
    assert not any(task.done() for task in waiting)
    reads_while_waiting = lag.reads

    lag.seconds = 0.5
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*waiting), 1.0)
    assert time.monotonic() - started < 0.5  # the watcher's next look (every 0.01 s), on a busy machine too
    # One watcher polls for everyone: 50 waiters for 0.1 s cost ~10 reads, not 50 x 10.
    assert reads_while_waiting < 50 + 30
    await gate.stop()


async def test_an_order_is_refused_when_the_fills_stay_behind_for_the_whole_wait() -> None:
    gate = FillLagGate(Lag(2.5), limit_s=2.0, wait_s=0.2, check_every_s=0.01)
    started = time.monotonic()
    with pytest.raises(FillsBehind) as refused:
        await gate.admit()
    assert 0.2 <= time.monotonic() - started < 2.0
    assert refused.value.behind_s == 2.5
    await gate.stop()


class Starting:
    """A runtime that finishes starting when told."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self) -> bool:
        return self.done


async def test_an_order_waits_for_a_replica_that_is_starting_then_passes() -> None:
    starting = Starting()
    admission = OrderAdmission(starting, FillLagGate(Lag(0.0), limit_s=2.0), start_wait_s=5.0, check_every_s=0.01)
    waiting = asyncio.create_task(admission.admit())
    await asyncio.sleep(0.1)
    assert not waiting.done()  # held, not refused for want of instruments and prices
    starting.done = True
    async with asyncio.timeout(1.0):
        await waiting


async def test_a_replica_still_starting_after_the_wait_refuses_the_order() -> None:
    admission = OrderAdmission(Starting(), FillLagGate(Lag(0.0), limit_s=2.0), start_wait_s=0.1, check_every_s=0.01)
    with pytest.raises(StillStarting):
        await admission.admit()


async def test_a_started_replica_goes_on_to_the_fills_gate() -> None:
    started = Starting()
    started.done = True
    admission = OrderAdmission(started, FillLagGate(Lag(3.0), limit_s=2.0, wait_s=0.05), start_wait_s=0.0)
    with pytest.raises(FillsBehind):
        await admission.admit()
