"""Per-request context, as pure ASGI (no per-request cost beyond a header scan and a clock read):

- the request id: the caller's `X-Request-ID` (1-128 of `A-Za-z0-9._:-`) or a new one, returned in the response and
  carried by every log line written while the request is served;
- when the request arrived, so the service can measure its own overhead up to the exchange call
  (`trading_internal_overhead_seconds`).
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.log_config import log_context
from app.services.trading.metrics import WORK_RECEIVED_AT

__all__ = ["RequestContext"]

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = given.decode() if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        token = WORK_RECEIVED_AT.set(time.perf_counter())
        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            WORK_RECEIVED_AT.reset(token)
