"""Orders over the private WebSocket (OKX's trading ops), against the simulator on real sockets.

What must hold: the same answers and errors as by REST, the same rate limits (OKX shares them), an unanswered order
is `OKXOutcomeUnknown` (never re-sent, found again by clOrdId), and while the WebSocket is down orders go by REST.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import websockets

from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.errors import OKXOutcomeUnknown, OKXParameterError, OKXRateLimitError
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import OKXSimulator
from app.services.okx.trade import AmendRequest
from app.services.okx.transport import AiohttpTransport, Timeout
from app.services.okx.websocket import OKXWebSocket, WSConnected
from tests.integration.okx.conftest import CREDENTIALS, client_for, order, sim_config


class RecordingTransport(AiohttpTransport):
    """The production transport, noting each REST request's path: what did not go by WebSocket."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: Timeout
    ) -> tuple[int, bytes]:
        self.paths.append(url.split("/api/v5", 1)[-1].split("?", 1)[0])
        return await super().send(method, url, headers, body, timeout)


def _order_websocket(sim: OKXSimulator, client: OKXClient) -> OKXWebSocket:
    return OKXWebSocket(
        sim.ws_private_url, credentials=CREDENTIALS, clock=client.now_s, reconnect_base_s=0.05, reconnect_max_s=0.1
    )


async def _connected(ws: OKXWebSocket) -> None:
    while not ws.ready:
        await asyncio.sleep(0.01)


@pytest.fixture
async def rest() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def okx(sim: OKXSimulator, rest: RecordingTransport) -> AsyncIterator[OKXClient]:
    async with client_for(sim, transport=rest) as client, _order_websocket(sim, client) as ws:
        client.send_orders_over(ws)
        assert await ws.next_event(5) == WSConnected(reconnected=False, connection_number=1)
        await client.ensure_time_synced()
        rest.paths.clear()
        yield client


def _trade_paths(rest: RecordingTransport) -> list[str]:
    return [path for path in rest.paths if path.startswith("/trade/") and path != "/trade/order-get"]


async def test_place_amend_cancel_go_over_the_websocket(
    okx: OKXClient, sim: OKXSimulator, rest: RecordingTransport
) -> None:
    ack = await okx.trade.place_order(order(cl_ord_id="ws1", sz="0.01", px="49000"))
    amended = await okx.trade.amend_order(AmendRequest(inst_id="BTC-USDT", ord_id=ack.ord_id, new_px=Decimal("48000")))
    canceled = await okx.trade.cancel_order("BTC-USDT", ord_id=ack.ord_id)

    assert rest.paths == []  # not one REST request
    assert ack.ok and ack.cl_ord_id == "ws1" and ack.ord_id
    assert amended.ord_id == canceled.ord_id == ack.ord_id
    on_exchange = sim.exchange.find_order("BTC-USDT", ack.ord_id, None)
    assert on_exchange is not None
    assert (on_exchange.state, on_exchange.px) == ("canceled", Decimal("48000"))


async def test_a_refusal_is_the_same_error_as_by_rest(sim: OKXSimulator) -> None:
    """One item refused (sCode): the same exception, code and message whichever way the order went."""
    refusals: list[Exception] = []
    async with client_for(sim) as by_rest:
        with pytest.raises(OKXParameterError) as raised:
            await by_rest.trade.place_order(order(inst_id="NOPE-USDT", cl_ord_id="bad1"))
        refusals.append(raised.value)
        async with _order_websocket(sim, by_rest) as ws:
            by_rest.send_orders_over(ws)
            await _connected(ws)
            with pytest.raises(OKXParameterError) as raised:
                await by_rest.trade.place_order(order(inst_id="NOPE-USDT", cl_ord_id="bad2"))
            refusals.append(raised.value)

    by_rest_error, by_ws_error = refusals
    assert (by_ws_error.code, by_ws_error.message) == (by_rest_error.code, by_rest_error.message)


async def test_while_the_websocket_is_down_orders_go_by_rest(sim: OKXSimulator) -> None:
    rest = RecordingTransport()
    async with client_for(sim, transport=rest) as client:
        ws = _order_websocket(sim, client)
        client.send_orders_over(ws)  # never started: not ready
        first = await client.trade.place_order(order(cl_ord_id="rest1"))
        await ws.start()
        await _connected(ws)
        second = await client.trade.place_order(order(cl_ord_id="ws2"))
        await ws.close()
        third = await client.trade.place_order(order(cl_ord_id="rest2"))

    assert _trade_paths(rest) == ["/trade/order", "/trade/order"]  # the first and the third
    assert {first.cl_ord_id, second.cl_ord_id, third.cl_ord_id} == {"rest1", "ws2", "rest2"}
    assert all(sim.exchange.find_order("BTC-USDT", None, c) for c in ("rest1", "ws2", "rest2"))


async def test_an_order_on_a_websocket_closing_under_it_goes_by_rest_not_unknown(
    sim: OKXSimulator, okx: OKXClient, rest: RecordingTransport
) -> None:
    """The connection is closing before this side's reader has noticed (as when the exchange's WebSocket goes away
    under load): nothing can be sent on it, so the order goes by REST and is placed, instead of being sent into a
    closing socket and left `unknown` until its expTime."""
    ws = okx._order_websocket  # noqa: SLF001
    assert ws is not None and ws.ready
    connection = ws._connection  # noqa: SLF001
    assert connection is not None
    closing = asyncio.create_task(connection.close())
    await asyncio.sleep(0)  # its close frame is sent (the state is CLOSING); the exchange's answer is not back yet
    assert ws.ready  # as the service sees it at that moment: its reader has not noticed
    placed = await okx.trade.place_order(order(cl_ord_id="closing1"))
    await closing
    assert placed.cl_ord_id == "closing1" and placed.s_code == "0"
    assert _trade_paths(rest) == ["/trade/order"]
    assert sim.exchange.find_order("BTC-USDT", None, "closing1")


async def test_a_lost_answer_is_outcome_unknown_and_the_websocket_comes_back(
    okx: OKXClient, sim: OKXSimulator, rest: RecordingTransport
) -> None:
    sim.faults.update({"lose_response_rate": 1})
    with pytest.raises(OKXOutcomeUnknown) as raised:
        await okx.trade.place_order(order(cl_ord_id="lost1"))
    sim.faults.update({"lose_response_rate": 0})

    # Carried out, never re-sent: found by clOrdId, once.
    assert raised.value.client_order_id == "lost1" and raised.value.exp_time_ms is not None
    assert [o["clOrdId"] for o in sim.exchange.state()["orders"]].count("lost1") == 1
    assert _trade_paths(rest) == []
    found = await okx.trade.get_order("BTC-USDT", cl_ord_id="lost1")
    assert found.state == "live"

    # The connection was cut; it comes back and carries orders again.
    ws = okx._order_websocket
    assert ws is not None
    async with asyncio.timeout(5):
        while ws.connections < 2 or not ws.ready:
            await asyncio.sleep(0.02)
    rest.paths.clear()
    await okx.trade.place_order(order(cl_ord_id="afterlost"))
    assert _trade_paths(rest) == []


async def test_no_answer_in_time_is_outcome_unknown_and_a_late_answer_is_ignored(sim: OKXSimulator) -> None:
    async with client_for(sim, timeout_s=0.1) as client, _order_websocket(sim, client) as ws:
        client.send_orders_over(ws)
        await _connected(ws)
        sim.faults.update({"latency_ms": 300})
        with pytest.raises(OKXOutcomeUnknown):
            await client.trade.place_order(order(cl_ord_id="slow1"))
        await asyncio.sleep(0.4)  # the answer arrives after the caller gave up: dropped, nothing breaks
        sim.faults.update({"latency_ms": 0})

        assert sim.exchange.find_order("BTC-USDT", None, "slow1") is not None
        assert ws.ready and ws.reconnects == 0
        assert (await client.trade.place_order(order(cl_ord_id="fast1"))).cl_ord_id == "fast1"


async def test_rate_limits_are_shared_with_rest() -> None:
    """OKX counts place-order by WebSocket and by REST against one bucket (60 per 2 s per instrument): after a
    burst of 60 over the WebSocket, a burst by REST right after is refused (50011), not served from a bucket of its
    own."""
    no_retry = {"retry_policy": RetryPolicy(attempts=1), "rate_limiter": RateLimiter(enabled=False)}
    async with (
        OKXSimulator(sim_config(rate_limits=True)) as sim,
        client_for(sim, **no_retry) as by_ws,
        client_for(sim, **no_retry) as by_rest,
        _order_websocket(sim, by_ws) as ws,
    ):
        by_ws.send_orders_over(ws)
        await _connected(ws)
        await by_ws.ensure_time_synced()
        await by_rest.ensure_time_synced()
        over_ws = await asyncio.gather(
            *(by_ws.trade.place_order(order(cl_ord_id=f"w{n}")) for n in range(60)), return_exceptions=True
        )
        over_rest = await asyncio.gather(
            *(by_rest.trade.place_order(order(cl_ord_id=f"r{n}")) for n in range(10)), return_exceptions=True
        )

    assert not [result for result in over_ws if isinstance(result, BaseException)]
    refused = [result for result in over_rest if isinstance(result, OKXRateLimitError)]
    assert len(refused) >= 5, over_rest  # only what the bucket leaked meanwhile got through
    assert len(sim.exchange.state()["orders"]) == 60 + 10 - len(refused)


async def _raw_op(sim: OKXSimulator, message: dict[str, Any], *, login: bool = True) -> dict[str, Any]:
    """One op on a bare connection, so the test controls every field."""
    async with websockets.connect(sim.ws_private_url) as connection:
        if login:
            await connection.send(json.dumps({"op": "login", "args": [CREDENTIALS.ws_login_args(int(time.time()))]}))
            assert json.loads(await connection.recv())["code"] == "0"
        await connection.send(json.dumps(message))
        return json.loads(await asyncio.wait_for(connection.recv(), 5))


async def test_the_simulator_answers_ops_as_okx() -> None:
    async with OKXSimulator(sim_config()) as sim:
        body = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "49000"}
        placed = await _raw_op(sim, {"id": "a1", "op": "order", "args": [body | {"clOrdId": "raw1"}]})
        expired = await _raw_op(
            sim,
            {
                "id": "a2",
                "op": "order",
                "args": [body | {"clOrdId": "raw2"}],
                "expTime": str(int(time.time() * 1000) - 1),
            },
        )
        batch = await _raw_op(
            sim,
            {
                "id": "a3",
                "op": "batch-orders",
                "args": [body | {"clOrdId": "raw3"}, body | {"clOrdId": "raw4", "instId": "NOPE-USDT"}],
            },
        )
        not_logged_in = await _raw_op(sim, {"id": "a4", "op": "order", "args": [body]}, login=False)
        malformed = await _raw_op(sim, {"id": "a5", "op": "order", "args": ["not an object"]})

        assert placed["id"] == "a1" and placed["op"] == "order" and placed["code"] == "0"
        assert placed["data"][0]["clOrdId"] == "raw1" and placed["data"][0]["sCode"] == "0"
        assert int(placed["inTime"]) <= int(placed["outTime"])
        assert (expired["code"], expired["data"]) == ("50037", [])
        assert sim.exchange.find_order("BTC-USDT", None, "raw2") is None  # not processed
        assert batch["code"] == "2" and [item["sCode"] == "0" for item in batch["data"]] == [True, False]
        assert (not_logged_in["id"], not_logged_in["code"]) == ("a4", "60011")
        assert (malformed["id"], malformed["code"], malformed["data"]) == ("a5", "60013", [])


async def test_the_orders_websocket_can_go_uncompressed(sim: OKXSimulator) -> None:
    extensions: list[list[Any]] = []
    for compress in (True, False):
        async with OKXWebSocket(sim.ws_private_url, credentials=CREDENTIALS, compress=compress) as ws:
            await _connected(ws)
            assert ws._connection is not None
            extensions.append(ws._connection.protocol.extensions)
    compressed, plain = extensions
    assert [type(extension).__name__ for extension in compressed] == ["PerMessageDeflate"] and plain == []
