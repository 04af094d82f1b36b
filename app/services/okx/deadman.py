"""`DeadManSwitch`: keeps OKX's cancel-all-after timer armed while the service is healthy.

OKX cancels every pending order (of the tag, if one is given) `timeout_s` after the last call. Re-arming every
`interval_s` (well inside the timeout) means our orders never outlive the service by more than `timeout_s`: if the
process dies, hangs or loses the network, OKX cancels them. While `is_healthy()` is false the switch stops
re-arming on purpose, so OKX cancels. A clean `stop()` disarms it (timeOut 0).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from app.services.okx.models import CancelAllAfter
from app.services.okx.trade import OKXTrade
from app.tasks import stop_tasks

__all__ = ["DeadManSwitch"]

log = logging.getLogger(__name__)


class DeadManSwitch:
    def __init__(
        self,
        trade: OKXTrade,
        *,
        timeout_s: int = 60,
        interval_s: float = 10.0,
        tag: str | None = None,
        is_healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        if not 10 <= timeout_s <= 120:
            raise ValueError("OKX accepts a cancel-all-after timeout of 10-120 s")
        if not 0 < interval_s < timeout_s:
            raise ValueError("the re-arm interval must be shorter than the timeout")
        self._trade = trade
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.tag = tag
        self._is_healthy = is_healthy
        self._task: asyncio.Task[None] | None = None
        self.last_armed: CancelAllAfter | None = None
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def arm(self) -> CancelAllAfter | None:
        """One heartbeat: re-arm if healthy. A failure is logged and counted, never raised (the next beat retries)."""
        if not self._is_healthy():
            log.warning("dead-man switch: service unhealthy, not re-arming; OKX cancels open orders on timeout")
            return None
        try:
            self.last_armed = await self._trade.cancel_all_after(self.timeout_s, tag=self.tag)
            return self.last_armed
        except Exception as exc:  # any failure: counted and logged; the loop must keep beating
            self.failures += 1
            log.error("dead-man switch: re-arming failed: %s: %s", type(exc).__name__, exc)
            return None

    async def _beat(self) -> None:
        while True:
            await self.arm()
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._beat(), name="okx-dead-man-switch")

    async def stop(self, *, disarm: bool = True) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        if disarm:
            try:
                await self._trade.cancel_all_after(0, tag=self.tag)
            except Exception as exc:
                log.error("dead-man switch: disarming failed (OKX cancels on timeout): %s", exc)
