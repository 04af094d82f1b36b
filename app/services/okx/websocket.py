"""`OKXWebSocket`: one OKX v5 WebSocket (public or private) that stays connected.

It logs in (private), subscribes, keeps the connection alive with text `ping` well inside OKX's 30 s idle cut,
and when the connection drops it reconnects with exponential backoff and jitter, logs in again and restores every
subscription. Consumers read events with `async for event in ws` (or pass `on_event`): `WSPush` for channel data
and `WSConnected` once the subscriptions are active again, with `reconnected=True` after a drop, so that the order
tracker knows to fill the gap by REST.

A private connection also carries OKX's trading ops (`call`): a request with an `id` whose answer is matched back
by that `id`. A connection that drops with requests unanswered fails them with `WSNoAnswer` (they may or may not
have been carried out); `WSNotReady` means nothing was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from app.services.okx.auth import OKXCredentials
from app.services.okx.errors import OKXAuthError, OKXError
from app.services.okx.metrics import WEBSOCKET_RECONNECTS
from app.tasks import stop_tasks

__all__ = ["OKXWebSocket", "WSConnected", "WSError", "WSEvent", "WSNoAnswer", "WSNotReady", "WSPush"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WSPush:
    """Data pushed on a channel: `arg` names the subscription, `data` holds OKX's objects."""

    channel: str
    arg: dict[str, Any]
    data: list[dict[str, Any]]
    action: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class WSConnected:
    """Logged in and every subscription acknowledged; `reconnected` after a dropped connection."""

    reconnected: bool
    connection_number: int


@dataclass(frozen=True)
class WSError:
    """An `error` event from OKX (bad subscription, login failure, …) that did not end the connection."""

    code: str
    message: str


WSEvent = WSPush | WSConnected | WSError


class _ConnectionLost(Exception):
    pass


class WSNotReady(Exception):
    """Not connected and logged in: the request was not sent."""


class WSNoAnswer(Exception):
    """The request was sent, or may have been, and no answer came (connection lost, or the wait timed out)."""


def _key(arg: dict[str, Any]) -> str:
    return json.dumps(arg, sort_keys=True, separators=(",", ":"))


class OKXWebSocket:
    def __init__(
        self,
        url: str,
        *,
        credentials: OKXCredentials | None = None,
        clock: Callable[[], float] = time.time,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        handshake_timeout_s: float = 10.0,
        reconnect_base_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        on_event: Callable[[WSEvent], Awaitable[None]] | None = None,
        compress: bool = True,
    ) -> None:
        self.url = url
        self.compress = compress  # per-message deflate: worth it for books, not for a few hundred bytes per order
        self.credentials = credentials
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.reconnect_base_s = reconnect_base_s
        self.reconnect_max_s = reconnect_max_s
        self._clock = clock
        self._on_event = on_event
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._events: asyncio.Queue[WSEvent] = asyncio.Queue()
        self._connection: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()  # logged in (private) and every subscription acknowledged
        self.logged_in = False
        self.connections = 0
        self.reconnects = 0
        self.last_message_at: float | None = None
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}  # by request id, until answered
        self._request_ids = itertools.count(1)
        # Since when (monotonic) there has been no working connection; None while connected.
        self.disconnected_since: float | None = time.monotonic()

    def __repr__(self) -> str:
        private, connected = self.credentials is not None, self.connected.is_set()
        return f"OKXWebSocket(url={self.url!r}, private={private}, connected={connected})"

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"okx-ws {self.url}")

    async def close(self) -> None:
        self._closing = True
        self._fail_unanswered("the WebSocket was closed before the answer")
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None
        self.connected.clear()

    async def __aenter__(self) -> OKXWebSocket:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[WSEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WSEvent]:
        while True:
            yield await self._events.get()

    async def next_event(self, timeout_s: float | None = None) -> WSEvent:
        async with asyncio.timeout(timeout_s):
            return await self._events.get()

    # --- subscriptions ------------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self._subscriptions.values())

    async def subscribe(self, *args: dict[str, Any]) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        new = [arg for arg in args if _key(arg) not in self._subscriptions]
        for arg in new:
            self._subscriptions[_key(arg)] = arg
        if new and self._connection is not None and self.connected.is_set():
            await self._send({"op": "subscribe", "args": new})

    async def unsubscribe(self, *args: dict[str, Any]) -> None:
        gone = [self._subscriptions.pop(_key(arg)) for arg in args if _key(arg) in self._subscriptions]
        if gone and self._connection is not None and self.connected.is_set():
            await self._send({"op": "unsubscribe", "args": gone})

    # --- requests (trading ops) ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected and logged in (trading ops exist on a private connection only): a request sent now can be
        answered."""
        return self._connection is not None and self.connected.is_set() and self.logged_in

    async def call(
        self, op: str, args: list[dict[str, Any]], *, timeout_s: float, exp_time_ms: int | None = None
    ) -> dict[str, Any]:
        """Send one op (`order`, `cancel-order`, …) and return OKX's answer to it, its envelope as is."""
        connection = self._connection
        if connection is None or not self.ready:
            raise WSNotReady(f"{self.url} is not connected and logged in")
        if connection.state is not State.OPEN:
            # Closing or closed, and this side's reader has not noticed yet: nothing can be sent, so nothing was
            # (the caller goes by REST). Sent anyway, the send fails in a way that cannot tell whether the frame
            # left, and the order would be unknown until its expTime (a WebSocket outage under load: one order).
            raise WSNotReady(f"{self.url} is closing")
        request_id = str(next(self._request_ids))
        message: dict[str, Any] = {"id": request_id, "op": op, "args": args}
        if exp_time_ms is not None:
            message["expTime"] = str(exp_time_ms)
        answer = asyncio.get_running_loop().create_future()
        self._answers[request_id] = answer
        try:
            try:
                await connection.send(json.dumps(message, separators=(",", ":")))
            except websockets.WebSocketException as exc:  # the frame may have gone out before the connection died
                raise WSNoAnswer(f"{op}: sending failed ({type(exc).__name__}: {exc})") from exc
            try:
                async with asyncio.timeout(timeout_s):
                    return await answer
            except TimeoutError as exc:
                raise WSNoAnswer(f"{op}: no answer within {timeout_s:g} s") from exc
        finally:
            self._answers.pop(request_id, None)

    def _fail_unanswered(self, why: str) -> None:
        answers, self._answers = self._answers, {}
        for answer in answers.values():
            if not answer.done():
                answer.set_exception(WSNoAnswer(why))

    # --- connection loop ----------------------------------------------------------------------------------

    def _backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff: spreads reconnects of many clients after an exchange outage."""
        return random.uniform(self.reconnect_base_s / 2, min(self.reconnect_max_s, self.reconnect_base_s * 2**attempt))

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            try:
                async with websockets.connect(
                    self.url,
                    ping_interval=None,
                    open_timeout=self.handshake_timeout_s,
                    max_size=2**23,
                    compression="deflate" if self.compress else None,
                ) as connection:
                    self._connection = connection
                    await self._handshake(connection)
                    failures = 0
                    await self._read(connection)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.WebSocketException, _ConnectionLost, OKXError) as exc:
                # Login failures were queued as WSError when OKX answered; here they only cost a backoff.
                log.warning("OKX WebSocket %s lost: %s: %s", self.url, type(exc).__name__, exc)
            except Exception:  # anything else must not end the connection loop for good
                log.exception("OKX WebSocket %s: unexpected error; reconnecting", self.url)
            finally:
                self._connection = None
                self._fail_unanswered(f"the connection to {self.url} was lost before the answer")
                if self.connected.is_set() or self.disconnected_since is None:
                    self.disconnected_since = time.monotonic()
                self.connected.clear()
                self.logged_in = False
            if self._closing:
                return
            await asyncio.sleep(self._backoff_s(failures))
            failures += 1

    async def _handshake(self, connection: ClientConnection) -> None:
        """Log in (private) and subscribe, waiting for OKX's answers; pushes that arrive meanwhile are kept."""
        if self.credentials is not None:
            await self._send({"op": "login", "args": [self.credentials.ws_login_args(int(self._clock()))]})
            reply = await self._await_reply(connection, ("login", "error"))
            if reply.get("event") == "error" or str(reply.get("code", "0")) != "0":
                raise OKXAuthError(str(reply.get("msg") or "login failed"), code=str(reply.get("code", "")))
            self.logged_in = True
        sent = dict(self._subscriptions)
        if sent:
            await self._send({"op": "subscribe", "args": list(sent.values())})
            # One answer per argument: an ack, or an error event (already queued as a WSError) for a bad one.
            for _ in range(len(sent)):
                await self._await_reply(connection, ("subscribe", "error"))
        self.connections += 1
        reconnected = self.connections > 1
        if reconnected:
            self.reconnects += 1
            WEBSOCKET_RECONNECTS.labels(self.url.rstrip("/").rsplit("/", 1)[-1]).inc()
        self.connected.set()
        self.disconnected_since = None
        # Subscriptions added while the handshake ran were only recorded: send them now.
        late = [arg for key, arg in self._subscriptions.items() if key not in sent]
        if late:
            await self._send({"op": "subscribe", "args": late})
        await self._emit(WSConnected(reconnected=reconnected, connection_number=self.connections))

    async def _await_reply(self, connection: ClientConnection, events: tuple[str, ...]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.handshake_timeout_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _ConnectionLost(f"no {'/'.join(events)} answer within {self.handshake_timeout_s:g} s")
            async with asyncio.timeout(remaining):
                raw = await connection.recv()
            message = await self._dispatch(raw)
            if message is not None and message.get("event") in events:
                return message

    async def _read(self, connection: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(self.ping_interval_s):
                    raw = await connection.recv()
            except TimeoutError:
                # Quiet for a while: prove the link is alive before OKX (or a middlebox) cuts it.
                await connection.send("ping")
                try:
                    async with asyncio.timeout(self.pong_timeout_s):
                        raw = await connection.recv()
                except TimeoutError as exc:
                    raise _ConnectionLost(f"no pong within {self.pong_timeout_s:g} s") from exc
            await self._dispatch(raw)

    async def _dispatch(self, raw: str | bytes) -> dict[str, Any] | None:
        """Queue pushes and errors; return event messages (login/subscribe answers) to the caller."""
        self.last_message_at = self._clock()
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text == "pong":
            return None
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.warning("OKX WebSocket sent a frame that is not a JSON object: %.200s", text)
            return None
        if "op" in message and "id" in message:
            answer = self._answers.pop(str(message["id"]), None)
            if answer is not None and not answer.done():
                answer.set_result(message)
            return None
        if "data" in message and "arg" in message:
            arg, data = message["arg"], message["data"]
            if not isinstance(arg, dict) or not isinstance(data, list):
                log.warning("OKX WebSocket push with a malformed arg/data: %.200s", text)
                return None
            await self._emit(WSPush(str(arg.get("channel", "")), arg, data, message.get("action"), message))
            return None
        if message.get("event") == "error":
            await self._emit(WSError(str(message.get("code", "")), str(message.get("msg", ""))))
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        if self._connection is None:
            raise _ConnectionLost("not connected")
        await self._connection.send(json.dumps(message, separators=(",", ":")))

    async def _emit(self, event: WSEvent) -> None:
        if self._on_event is None:
            self._events.put_nowait(event)
            return
        try:
            await self._on_event(event)
        except Exception:  # a subscriber's failure (e.g. its database is down) must not cut the connection
            log.exception("OKX WebSocket: the on_event callback failed for %s", type(event).__name__)
