"""Marks when each HTTP request arrived, so the service can measure its own overhead up to the exchange call
(`trading_internal_overhead_seconds`). Pure ASGI: no per-request cost beyond one clock read."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.services.trading.metrics import WORK_RECEIVED_AT

__all__ = ["RequestTiming"]


class RequestTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = WORK_RECEIVED_AT.set(time.perf_counter())
        try:
            await self.app(scope, receive, send)
        finally:
            WORK_RECEIVED_AT.reset(token)
