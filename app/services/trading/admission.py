"""What a new order of the API passes before its checks: `OrderAdmission` (this replica has started), then
`FillLagGate` (new orders wait while the fills here are behind the exchange, and are refused if that lasts).

The risk checks read positions and the day's PnL as the applied fills left them. Past the service's capacity the
exchange's pushes queue for the order tracker, and that view grows seconds old (4-9 s at 400-500 orders/s offered
here, 2026-11-30). A new order is therefore held while the oldest unapplied push (`TradingRuntime.fill_lag_s`) is
older than `limit_s`, and refused (`FillsBehind`, HTTP 503 with Retry-After) if it is still so after `wait_s`.

Waiting, not refusing at once, is what keeps an overloaded service working: a refusal costs almost as much CPU as
an order, and a client that sends again at once (ignoring Retry-After) would keep the tracker starved, so that the
lag never falls (measured: a storm of 25,000-30,000 refusals in 20 s and ~60-110 orders/s accepted, instead of
~400). A held request costs nothing while it waits, so a client that sends its next order when the last is
answered slows down to what the tracker can apply. One watcher task per gate polls the lag (every
`check_every_s`) while anyone waits, and wakes every waiter together once it is back under the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from app.services.trading.errors import FillsBehind, StillStarting
from app.tasks import stop_tasks

__all__ = ["FillLagGate", "OrderAdmission"]

# How long a new order waits for a replica that has just started to load its instruments, prices and trading state.
START_WAIT_S = 5.0


class FillLagGate:
    def __init__(
        self,
        lag_s: Callable[[], float],
        *,
        limit_s: float,
        wait_s: float | None = None,
        check_every_s: float = 0.02,
    ) -> None:
        self._lag_s = lag_s
        self.limit_s = limit_s  # 0: never held
        self.wait_s = limit_s if wait_s is None else wait_s
        self.check_every_s = check_every_s
        self._caught_up: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def admit(self) -> None:
        """Return at once while the fills are within the limit; otherwise wait until they are, for at most
        `wait_s`, then raise `FillsBehind`."""
        if not self.limit_s or (behind := self._lag_s()) <= self.limit_s:
            return
        deadline = time.monotonic() + self.wait_s
        while behind > self.limit_s:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FillsBehind(behind, self.limit_s)
            caught_up = self._watched()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await caught_up.wait()
            behind = self._lag_s()

    def _watched(self) -> asyncio.Event:
        if self._caught_up is None or self._caught_up.is_set():
            self._caught_up = asyncio.Event()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(self._caught_up), name="fill-lag-gate")
        return self._caught_up

    async def _watch(self, caught_up: asyncio.Event) -> None:
        while not caught_up.is_set():
            await asyncio.sleep(self.check_every_s)
            if self._lag_s() <= self.limit_s:
                caught_up.set()

    async def stop(self) -> None:
        if self._watcher is not None:
            await stop_tasks([self._watcher])
            self._watcher = None


class OrderAdmission:
    """A replica serves requests as soon as its process is up, while its runtime is still loading the instruments'
    rules, the prices and the trading state in the background. A new order in that window would be refused by the
    risk checks for want of them (`instrument_unknown`, `no_market_price`: 76 orders, 422 and recorded as rejected,
    in the first second after a crash and restart under load), so it waits for the start instead, for at most
    `start_wait_s`, then is refused with 503 `not_ready` (nothing written). Then the fills' gate."""

    def __init__(
        self,
        started: Callable[[], bool],
        fills: FillLagGate,
        *,
        start_wait_s: float = START_WAIT_S,
        check_every_s: float = 0.05,
    ) -> None:
        self._started = started
        self.fills = fills
        self.start_wait_s = start_wait_s
        self.check_every_s = check_every_s

    async def admit(self) -> None:
        if not self._started():
            deadline = time.monotonic() + self.start_wait_s
            while not self._started():
                if time.monotonic() >= deadline:
                    raise StillStarting(
                        f"this replica is still starting (loading instruments, prices and the trading state) after "
                        f"{self.start_wait_s:g} s: send the order again shortly"
                    )
                await asyncio.sleep(self.check_every_s)
        await self.fills.admit()

    async def stop(self) -> None:
        await self.fills.stop()
