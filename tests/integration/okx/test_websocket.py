"""`OKXWebSocket` against a local `websockets` server that speaks OKX's login/subscribe/push/ping protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.server import Server, ServerConnection, serve

from app.services.okx.auth import OKXCredentials, sign
from app.services.okx.websocket import OKXWebSocket, WSConnected, WSError, WSPush

CREDENTIALS = OKXCredentials.of("ws-key", "ws-secret-XYZ", "ws-pass-XYZ")
ORDERS_ARG = {"channel": "orders", "instType": "ANY"}
ACCOUNT_ARG = {"channel": "account"}


@dataclass
class FakeOKX:
    """The server side of OKX's WebSocket protocol, recording what clients do."""

    secret: str = "ws-secret-XYZ"
    logins: int = 0
    pings: int = 0
    subscribed: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: list[dict[str, Any]] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    answer_pings: bool = True
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/ws/v5/private"

    async def handler(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        async for raw in connection:
            if raw == "ping":
                self.pings += 1
                if self.answer_pings:
                    await connection.send("pong")
                continue
            message = json.loads(raw)
            if message["op"] == "login":
                args = message["args"][0]
                expected = sign(self.secret, str(args["timestamp"]), "GET", "/users/self/verify")
                if args["sign"] != expected or args["passphrase"] != "ws-pass-XYZ":
                    await connection.send(
                        json.dumps({"event": "error", "code": "60009", "msg": "Login failed.", "connId": "c1"})
                    )
                    continue
                self.logins += 1
                await connection.send(json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c1"}))
            elif message["op"] == "unsubscribe":
                for arg in message["args"]:
                    self.unsubscribed.append(arg)
                    await connection.send(json.dumps({"event": "unsubscribe", "arg": arg, "connId": "c1"}))
            elif message["op"] == "subscribe":
                for arg in message["args"]:
                    self.subscribed.append(arg)
                    if arg.get("channel") == "nonsense":
                        await connection.send(
                            json.dumps(
                                {
                                    "event": "error",
                                    "code": "60018",
                                    "msg": "Wrong URL or channel:nonsense",
                                    "connId": "c1",
                                }
                            )
                        )
                    else:
                        await connection.send(json.dumps({"event": "subscribe", "arg": arg, "connId": "c1"}))

    async def push_order(self, state: str) -> None:
        push = {
            "arg": {"channel": "orders", "instType": "ANY", "uid": "614488474791936"},
            "data": [{"instId": "BTC-USDT", "ordId": "312269865356374016", "clOrdId": "b15", "state": state}],
        }
        await self.connections[-1].send(json.dumps(push))

    async def drop(self) -> None:
        await self.connections[-1].close()


@pytest.fixture
async def fake_okx() -> AsyncIterator[FakeOKX]:
    fake = FakeOKX()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        fake.server = server
        yield fake


async def _next_of(ws: OKXWebSocket, kind: type, timeout_s: float = 5.0) -> Any:
    while True:
        event = await ws.next_event(timeout_s)
        if isinstance(event, kind):
            return event


def _client(url: str, **kwargs: Any) -> OKXWebSocket:
    return OKXWebSocket(url, credentials=CREDENTIALS, reconnect_base_s=0.05, reconnect_max_s=0.2, **kwargs)


async def test_login_subscribe_and_push(fake_okx: FakeOKX) -> None:
    async with _client(fake_okx.url) as ws:
        await ws.subscribe(ORDERS_ARG, ACCOUNT_ARG)

        connected = await _next_of(ws, WSConnected)
        await fake_okx.push_order("live")
        push = await _next_of(ws, WSPush)

    assert connected == WSConnected(reconnected=False, connection_number=1)
    assert fake_okx.logins == 1
    assert fake_okx.subscribed == [ORDERS_ARG, ACCOUNT_ARG]
    assert push.channel == "orders"
    assert push.data[0]["state"] == "live"
    assert push.arg["instType"] == "ANY"


async def test_subscribe_after_connect_is_sent_at_once(fake_okx: FakeOKX) -> None:
    async with _client(fake_okx.url) as ws:
        await _next_of(ws, WSConnected)
        await ws.subscribe(ORDERS_ARG)
        for _ in range(100):
            if fake_okx.subscribed:
                break
            await asyncio.sleep(0.01)

    assert fake_okx.subscribed == [ORDERS_ARG]


async def test_idle_connection_is_kept_alive_with_text_ping(fake_okx: FakeOKX) -> None:
    async with _client(fake_okx.url, ping_interval_s=0.1, pong_timeout_s=1.0) as ws:
        await ws.subscribe(ORDERS_ARG)
        await _next_of(ws, WSConnected)
        await asyncio.sleep(0.45)

        assert fake_okx.pings >= 2
        assert ws.connections == 1  # pongs arrived: no reconnect
        assert ws.connected.is_set()


async def test_dropped_connection_reconnects_logs_in_and_resubscribes(fake_okx: FakeOKX) -> None:
    channel = fake_okx.url.rstrip("/").rsplit("/", 1)[-1]
    counted = REGISTRY.get_sample_value("okx_websocket_reconnects_total", {"channel": channel}) or 0.0
    async with _client(fake_okx.url) as ws:
        await ws.subscribe(ORDERS_ARG)
        await _next_of(ws, WSConnected)

        await fake_okx.drop()
        reconnected = await _next_of(ws, WSConnected)
        await fake_okx.push_order("filled")
        push = await _next_of(ws, WSPush)

    assert reconnected == WSConnected(reconnected=True, connection_number=2)
    assert ws.reconnects == 1
    assert REGISTRY.get_sample_value("okx_websocket_reconnects_total", {"channel": channel}) == counted + 1
    assert fake_okx.logins == 2
    assert fake_okx.subscribed == [ORDERS_ARG, ORDERS_ARG]
    assert push.data[0]["state"] == "filled"


async def test_missing_pong_counts_as_a_dead_link(fake_okx: FakeOKX) -> None:
    fake_okx.answer_pings = False
    async with _client(fake_okx.url, ping_interval_s=0.1, pong_timeout_s=0.1) as ws:
        await ws.subscribe(ORDERS_ARG)
        await _next_of(ws, WSConnected)
        reconnected = await _next_of(ws, WSConnected)

    assert reconnected.reconnected
    assert len(fake_okx.connections) >= 2


async def test_login_failure_is_reported_and_retried(fake_okx: FakeOKX) -> None:
    bad = OKXCredentials.of("ws-key", "wrong-secret", "ws-pass-XYZ")
    ws = OKXWebSocket(fake_okx.url, credentials=bad, reconnect_base_s=0.05, reconnect_max_s=0.1)
    async with ws:
        error = await _next_of(ws, WSError)
        await asyncio.sleep(0.3)

    assert error == WSError(code="60009", message="Login failed.")
    assert fake_okx.logins == 0
    assert len(fake_okx.connections) >= 2  # it kept trying, with backoff
    assert not ws.connected.is_set()


async def test_a_refused_subscription_is_reported_without_blocking_the_others(fake_okx: FakeOKX) -> None:
    async with _client(fake_okx.url) as ws:
        await ws.subscribe({"channel": "nonsense"}, ORDERS_ARG)
        error = await _next_of(ws, WSError)
        await _next_of(ws, WSConnected)
        await fake_okx.push_order("live")
        push = await _next_of(ws, WSPush)

    assert error.code == "60018"
    assert push.channel == "orders"


async def test_public_socket_needs_no_login(fake_okx: FakeOKX) -> None:
    async with OKXWebSocket(fake_okx.url) as ws:
        await ws.subscribe({"channel": "tickers", "instId": "BTC-USDT"})
        await _next_of(ws, WSConnected)

    assert fake_okx.logins == 0
    assert fake_okx.subscribed == [{"channel": "tickers", "instId": "BTC-USDT"}]


async def test_secrets_stay_out_of_reprs(fake_okx: FakeOKX) -> None:
    ws = _client(fake_okx.url)

    for text in (repr(ws), repr(CREDENTIALS), str(CREDENTIALS)):
        assert "ws-secret-XYZ" not in text
        assert "ws-pass-XYZ" not in text


async def test_async_iteration_and_unsubscribe(fake_okx: FakeOKX) -> None:
    async with _client(fake_okx.url) as ws:
        await ws.subscribe(ORDERS_ARG, ACCOUNT_ARG)
        seen: list[object] = []
        async for event in ws:
            seen.append(event)
            if isinstance(event, WSConnected):
                await ws.unsubscribe(ACCOUNT_ARG)
                await fake_okx.push_order("canceled")
            if isinstance(event, WSPush):
                break
        for _ in range(100):
            if fake_okx.unsubscribed:
                break
            await asyncio.sleep(0.01)

    assert fake_okx.unsubscribed == [ACCOUNT_ARG]
    assert ws.subscriptions == [ORDERS_ARG]  # what a reconnect would restore
    assert isinstance(seen[-1], WSPush) and seen[-1].data[0]["state"] == "canceled"


async def test_callback_interface(fake_okx: FakeOKX) -> None:
    received: list[object] = []
    pushed = asyncio.Event()

    async def on_event(event: object) -> None:
        received.append(event)
        if isinstance(event, WSPush):
            pushed.set()

    async with _client(fake_okx.url, on_event=on_event) as ws:
        await ws.subscribe(ORDERS_ARG)
        await asyncio.wait_for(ws.connected.wait(), 5)
        await fake_okx.push_order("partially_filled")
        await asyncio.wait_for(pushed.wait(), 5)

    assert [type(event).__name__ for event in received] == ["WSConnected", "WSPush"]


async def test_odd_frames_and_a_failing_callback_do_not_end_the_connection(fake_okx: FakeOKX) -> None:
    pushes: list[WSPush] = []

    async def on_event(event: object) -> None:
        if isinstance(event, WSPush):
            pushes.append(event)
            if len(pushes) == 1:
                raise RuntimeError("subscriber failed")

    async with _client(fake_okx.url, on_event=on_event) as ws:
        await ws.subscribe(ORDERS_ARG)
        await asyncio.wait_for(ws.connected.wait(), 5)
        for frame in ("[1, 2]", "null", '{"arg": "x", "data": 1}'):
            await fake_okx.connections[-1].send(frame)
        await fake_okx.push_order("live")  # the callback raises on this one
        await fake_okx.push_order("filled")
        for _ in range(100):
            if len(pushes) == 2:
                break
            await asyncio.sleep(0.01)

    assert [p.data[0]["state"] for p in pushes] == ["live", "filled"]
    assert ws.connections == 1  # never reconnected: nothing above broke the link
