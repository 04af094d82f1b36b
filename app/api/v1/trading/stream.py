"""WS /api/v1/trading/stream: the execution events (orders, fills, positions, executions, risk, kill switch) live,
as they are committed, read from the events table so that nothing is skipped (`EventFeed`).

Protocol (JSON text frames):
- Authenticate with an `Authorization: Bearer <key>` header, or, since a browser cannot set headers on a
  WebSocket, with a first message `{"op": "login", "api_key": "<key>"}` within 10 s. A `read` key is enough.
- `?after=<event id>` resumes after the last event a client saw: the events since then come first, from the table;
  without it only new events come. `?event_type=order_filled,position_updated` keeps only those types.
- Server messages: `{"type": "login", "last_id": N}` once authenticated (N: the newest event id so far);
  `{"type": "event", "event": {…}}` per event, with the fields of `GET /events`; `{"type": "heartbeat",
  "last_id": N}` after 15 s without events; `{"type": "error", "code": …, "message": …}` just before a close.
- `{"op": "ping"}` from the client is answered `{"type": "pong"}`.
- Close codes: 4001 unauthorized, 4003 forbidden, 4022 invalid parameters, 4008 too slow (the error says the id to
  resume after).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.models.trading import ExecutionEventType
from app.schemas.trading import EventRead
from app.services.auth import grants, verify_api_key
from app.services.trading.event_feed import EventFeed, SubscriberTooSlow

router = APIRouter(tags=["stream"])

LOGIN_TIMEOUT_S = 10.0
HEARTBEAT_S = 15.0


class _Refused(Exception):
    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


def _event_types(raw: str | None) -> set[ExecutionEventType] | None:
    if not raw:
        return None
    try:
        return {ExecutionEventType(name.strip()) for name in raw.split(",") if name.strip()}
    except ValueError:
        known = ", ".join(t.value for t in ExecutionEventType)
        raise _Refused(4022, "validation_error", f"event_type: unknown type in {raw!r}; known: {known}") from None


def _after(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise _Refused(4022, "validation_error", "after: must be an event id (a non-negative integer)")
    return int(raw)


async def _api_key_of(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    try:
        async with asyncio.timeout(LOGIN_TIMEOUT_S):
            message = json.loads(await websocket.receive_text())
    except TimeoutError:
        raise _Refused(4001, "unauthorized", "no login within 10 s") from None
    except (ValueError, KeyError):
        message = None
    if not isinstance(message, dict) or message.get("op") != "login" or not isinstance(message.get("api_key"), str):
        raise _Refused(4001, "unauthorized", 'send {"op": "login", "api_key": "<key>"} first')
    return message["api_key"]


async def _authenticate(websocket: WebSocket) -> None:
    key = await _api_key_of(websocket)
    async with websocket.app.state.session_factory() as session:
        api_key = await verify_api_key(session, key)
        await session.commit()
    if api_key is None:
        raise _Refused(4001, "unauthorized", "the API key is not valid or was revoked")
    if not grants(api_key.scope_set, "read"):
        raise _Refused(4003, "forbidden", "this API key lacks the `read` scope")


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        types = _event_types(websocket.query_params.get("event_type"))
        after = _after(websocket.query_params.get("after"))
        await _authenticate(websocket)
    except _Refused as refused:
        await _close(websocket, refused.close_code, refused.code, refused.message)
        return
    except WebSocketDisconnect:
        return
    feed: EventFeed = websocket.app.state.event_feed
    await websocket.send_json({"type": "login", "last_id": await feed.newest_id()})
    lock = asyncio.Lock()
    activity = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_text(json.dumps(message))
        activity.set()

    async def pump() -> None:
        async for batch in feed.subscribe(after):
            for event in batch:
                if types is None or event.event_type in types:
                    await send({"type": "event", "event": EventRead.model_validate(event).model_dump(mode="json")})

    async def heartbeat() -> None:
        while True:
            activity.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await activity.wait()
                continue
            await send({"type": "heartbeat", "last_id": feed.watermark})

    async def listen() -> None:
        while True:
            with contextlib.suppress(ValueError):
                if json.loads(await websocket.receive_text()) == {"op": "ping"}:
                    await send({"type": "pong"})

    tasks = [asyncio.create_task(job()) for job in (pump, heartbeat, listen)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if isinstance(task.exception(), SubscriberTooSlow):
                slow = task.exception()
                assert isinstance(slow, SubscriberTooSlow)
                await _close(websocket, 4008, "too_slow", str(slow))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(websocket: WebSocket, close_code: int, code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_json({"type": "error", "code": code, "message": message})
        await websocket.close(close_code, reason=code)
