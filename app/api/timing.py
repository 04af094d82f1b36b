"""Per-request context, as pure ASGI (no per-request cost beyond a header scan and a clock read):

- the request id: the caller's `X-Request-ID` (1-128 of `A-Za-z0-9._:-`) or a new one, returned in the response and
  carried by every log line written while the request is served;
- when the request arrived, so the service can measure its own overhead up to the exchange call
  (`trading_internal_overhead_seconds`);
- how long the service took to answer it (`api_request_seconds`, by the route's endpoint: received → answered), so a
  client's latency can be told apart into the time in here and the time outside (its own queue, the network);
- the database sessions opened for the request (`close_after_request`), closed when it has been answered, or has
  failed. The order routes' dependency (`deps.TradingDep`) opens its session so instead of as a `yield`
  dependency: FastAPI's exit-stack machinery for one costs ~90 µs of CPU per request
  (`benchmarks/fastapi_dependencies.py`), ~2 % of an order's CPU in the service.
"""

from __future__ import annotations

import logging
import os
import re
import time

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.log_config import log_context
from app.services.trading.metrics import WORK_RECEIVED_AT

__all__ = ["REQUEST_SECONDS", "RequestContext", "close_after_request"]

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_SESSIONS = "app.sessions"  # the ASGI scope's key: the sessions to close when the request ends
REQUEST_SECONDS = Histogram(
    "api_request_seconds",
    "HTTP requests: received to answered, inside the service",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def close_after_request(scope: Scope, session: AsyncSession) -> AsyncSession:
    """`session`, to be closed by `RequestContext` when this request ends (answered or failed)."""
    sessions: list[AsyncSession] | None = scope.get(_SESSIONS)
    if sessions is None:
        raise RuntimeError("close_after_request needs the RequestContext middleware")
    sessions.append(session)
    return session


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        # A new id: 128 random bits in hex, as uuid4().hex without building a UUID object (0.6 against 3.2 µs).
        request_id = given.decode() if given is not None and _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        received = time.perf_counter()
        token = WORK_RECEIVED_AT.set(received)
        sessions: list[AsyncSession] = []
        scope[_SESSIONS] = sessions
        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            WORK_RECEIVED_AT.reset(token)
            if scope["type"] == "http":
                # The route's name (its endpoint function's: `create_order`), not the path: labels stay bounded.
                endpoint = getattr(scope.get("route"), "name", None) or "unmatched"
                REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - received)
            for session in sessions:
                try:
                    await session.close()
                except Exception:  # answered already; the pool drops a connection that failed to close
                    log.exception("closing a request's database session failed")
