"""The simulator on the wire: auth, envelopes, rate limits, expTime, WebSockets, and every fault mode."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from app.services.okx.auth import iso_timestamp, sign
from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.deadman import DeadManSwitch
from app.services.okx.errors import (
    OKXInvalidSignature,
    OKXOutcomeUnknown,
    OKXRequestExpired,
    OKXServiceUnavailable,
    OKXTransportError,
)
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import SANDBOX_SECRET_KEY, OKXSimulator
from app.services.okx.simulator.ws import book_checksum
from app.services.okx.websocket import OKXWebSocket, WSConnected, WSPush
from tests.integration.okx.conftest import CREDENTIALS, client_for, order, sim_config

Control = Callable[..., Awaitable[Any]]


async def _signed(
    sim: OKXSimulator,
    method: str,
    target: str,
    body: str = "",
    *,
    timestamp: str | None = None,
    secret: str = SANDBOX_SECRET_KEY,
) -> httpx.Response:
    """A request signed by hand, so the test controls every byte (python-okx's quirks included)."""
    timestamp = timestamp or iso_timestamp(time.time())
    headers = CREDENTIALS.rest_headers(timestamp, method, target, body)
    headers["OK-ACCESS-SIGN"] = sign(secret, timestamp, method, target, body)
    headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        return await http.request(method, target, content=body or None, headers=headers)


async def _next_push(ws: OKXWebSocket, channel: str, timeout_s: float = 5.0) -> WSPush:
    while True:
        event = await ws.next_event(timeout_s)
        if isinstance(event, WSPush) and event.channel == channel:
            return event


async def _pushes_by_channel(ws: OKXWebSocket, channels: set[str]) -> dict[str, WSPush]:
    """The next push of each channel, whatever order they arrive in."""
    found: dict[str, WSPush] = {}
    while set(found) != channels:
        push = await ws.next_event(5)
        if isinstance(push, WSPush) and push.channel in channels and push.channel not in found:
            found[push.channel] = push
    return found


# --- REST: auth, envelope, python-okx and ccxt shapes ------------------------------------------------------


async def test_bad_signature_and_expired_timestamp(sim: OKXSimulator) -> None:
    wrong = await _signed(sim, "GET", "/api/v5/account/balance", secret="not-the-secret")
    stale = await _signed(sim, "GET", "/api/v5/account/balance", timestamp=iso_timestamp(time.time() - 120))
    good = await _signed(sim, "GET", "/api/v5/account/balance?ccy=BTC,USDT")

    assert (wrong.status_code, wrong.json()) == (401, {"msg": "Invalid signature.", "code": "50113"})
    assert (stale.status_code, stale.json()["code"]) == (401, "50102")
    assert good.json()["code"] == "0"
    assert [d["ccy"] for d in good.json()["data"][0]["details"]] == ["BTC", "USDT"]


async def test_client_with_a_wrong_secret_gets_invalid_signature(sim: OKXSimulator) -> None:
    async with client_for(sim, secret_key="wrong") as okx:
        with pytest.raises(OKXInvalidSignature):
            await okx.account.get_balance()


async def test_python_okx_body_with_empty_strings_and_null(sim: OKXSimulator) -> None:
    # python-okx sends every unset field as "" and attachAlgoOrds as null: OKX treats them as absent.
    body = json.dumps(
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": "49000",
            "ccy": "",
            "clOrdId": "",
            "tag": "",
            "posSide": "",
            "reduceOnly": "",
            "tgtCcy": "",
            "banAmend": "",
            "attachAlgoOrds": None,
        }
    )
    response = await _signed(sim, "POST", "/api/v5/trade/order", body)

    item = response.json()["data"][0]
    assert (response.json()["code"], item["sCode"], item["clOrdId"]) == ("0", "0", "")


async def test_envelopes_of_batch_partial_and_total_failure(sim: OKXSimulator) -> None:
    good = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "49000"}
    bad = {**good, "instId": "NOPE-USDT"}

    partial = (await _signed(sim, "POST", "/api/v5/trade/batch-orders", json.dumps([good, bad]))).json()
    failed = (await _signed(sim, "POST", "/api/v5/trade/batch-orders", json.dumps([bad]))).json()

    assert partial["code"] == "2" and [i["sCode"] for i in partial["data"]] == ["0", "51001"]
    assert failed["code"] == "1" and failed["data"][0]["sMsg"] == "Instrument ID doesn't exist."


async def test_public_and_account_endpoints(okx: OKXClient) -> None:
    spot = await okx.public.get_instruments("SPOT")
    swap = await okx.public.instrument("BTC-USDT-SWAP")
    tickers = await okx.market.get_tickers("SPOT")
    config = await okx.account.get_config()
    currencies = await okx.request("GET", "/api/v5/asset/currencies")
    server_time = await okx.public.get_server_time()

    assert {i.inst_id for i in spot} == {"BTC-USDT", "ETH-USDT"}
    assert (swap.ct_val, swap.settle_ccy, swap.uly, swap.base_ccy) == (Decimal("0.01"), "USDT", "BTC-USDT", None)
    assert {t.inst_id for t in tickers} == {"BTC-USDT", "ETH-USDT"}
    assert all(t.bid_px is not None and t.ask_px is not None and t.bid_px < t.ask_px for t in tickers)
    assert config.pos_mode == "net_mode"
    assert {row["ccy"] for row in currencies} >= {"BTC", "USDT", "ETH"}
    assert abs(server_time.timestamp() - time.time()) < 5


async def test_exp_time_in_the_past_is_refused_unprocessed(okx: OKXClient, sim: OKXSimulator) -> None:
    with pytest.raises(OKXRequestExpired):
        await okx.trade.place_order(order(cl_ord_id="late1"), exp_time_ms=okx.now_ms() - 1000)

    assert sim.exchange.find_order("BTC-USDT", None, "late1") is None


async def test_rate_limit_answers_50011_and_the_client_waits_instead() -> None:
    async with OKXSimulator(sim_config(rate_limits=True)) as sim:
        codes = [(await _signed(sim, "GET", "/api/v5/account/config")).json()["code"] for _ in range(8)]
        assert codes[:5] == ["0"] * 5 and "50011" in codes[5:]  # 5 per 2 s, as OKX

        async with client_for(sim, rate_limiter=RateLimiter()) as throttled:
            await asyncio.sleep(2.1)  # let the exchange's bucket drain
            configs = [await throttled.account.get_config() for _ in range(7)]
        assert len(configs) == 7  # waited on its own limiter, never refused


# --- WebSockets ----------------------------------------------------------------------------------------------


async def test_private_pushes_on_every_state_change_and_fill(
    okx: OKXClient, sim: OKXSimulator, control: Control
) -> None:
    async with OKXWebSocket(sim.ws_private_url, credentials=CREDENTIALS, clock=okx.now_s) as ws:
        await ws.subscribe({"channel": "orders", "instType": "ANY"}, {"channel": "account", "ccy": "BTC"})
        await ws.next_event(5)
        snapshot = await _next_push(ws, "account")
        ack = await okx.trade.place_order(order(px="49000", sz="3"))
        live = await _next_push(ws, "orders")
        await control("POST", "price", {"instId": "BTC-USDT", "px": "48995"})
        partial = await _next_push(ws, "orders")
        await control("POST", "price", {"instId": "BTC-USDT", "px": "48000"})
        states = [partial.data[0]["state"]]
        while states[-1] != "filled":
            states.append((await _next_push(ws, "orders")).data[0]["state"])

    assert snapshot.raw["eventType"] == "snapshot" and [d["ccy"] for d in snapshot.data[0]["details"]] == ["BTC"]
    assert (live.data[0]["ordId"], live.data[0]["state"]) == (ack.ord_id, "live")
    assert partial.data[0]["execType"] == "M" and partial.data[0]["tradeId"]
    assert Decimal(partial.data[0]["fillSz"]) > 0
    assert states[0] == "partially_filled" and states[-1] == "filled"


async def test_positions_channel_for_swaps(okx: OKXClient, sim: OKXSimulator) -> None:
    async with OKXWebSocket(sim.ws_private_url, credentials=CREDENTIALS, clock=okx.now_s) as ws:
        await ws.subscribe({"channel": "positions", "instType": "SWAP"})
        await ws.next_event(5)
        first = await _next_push(ws, "positions")  # snapshot: nothing yet
        await okx.trade.place_order(order("BTC-USDT-SWAP", ord_type="market", px=None, sz="2"))
        update = await _next_push(ws, "positions")

    assert first.data == []
    assert (update.data[0]["instId"], update.data[0]["pos"]) == ("BTC-USDT-SWAP", "2")


async def test_public_tickers_and_books_with_checksum(sim: OKXSimulator, control: Control) -> None:
    async with OKXWebSocket(sim.ws_public_url) as ws:
        await ws.subscribe({"channel": "tickers", "instId": "BTC-USDT"}, {"channel": "books", "instId": "BTC-USDT"})
        first = await _pushes_by_channel(ws, {"tickers", "books"})  # the snapshots may precede WSConnected
        await control("POST", "price", {"instId": "BTC-USDT", "px": "50100"})
        second = await _pushes_by_channel(ws, {"tickers", "books"})
    ticker, snapshot, moved, update = first["tickers"], first["books"], second["tickers"], second["books"]

    book = {"asks": {r[0]: r for r in snapshot.data[0]["asks"]}, "bids": {r[0]: r for r in snapshot.data[0]["bids"]}}
    for side in ("asks", "bids"):
        for row in update.data[0][side]:
            if row[1] == "0":
                book[side].pop(row[0], None)
            else:
                book[side][row[0]] = row
    asks = sorted(book["asks"].values(), key=lambda r: Decimal(r[0]))
    bids = sorted(book["bids"].values(), key=lambda r: Decimal(r[0]), reverse=True)
    assert snapshot.action == "snapshot" and snapshot.data[0]["prevSeqId"] == -1
    assert update.action == "update" and update.data[0]["prevSeqId"] == snapshot.data[0]["seqId"]
    assert book_checksum(bids, asks) == update.data[0]["checksum"]  # the update applied gives OKX's checksum
    assert Decimal(moved.data[0]["bidPx"]) > Decimal(ticker.data[0]["bidPx"])


async def test_ping_pong_and_idle_disconnect() -> None:
    async with OKXSimulator(sim_config(ws_idle_timeout_s=0.3)) as sim, websockets.connect(sim.ws_public_url) as raw:
        await raw.send("ping")
        assert await raw.recv() == "pong"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(raw.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004


async def test_login_is_required_and_checked(sim: OKXSimulator) -> None:
    async with websockets.connect(sim.ws_private_url) as raw:
        await raw.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))
        need_login = json.loads(await raw.recv())
        args = CREDENTIALS.ws_login_args(int(time.time()))
        await raw.send(json.dumps({"op": "login", "args": [{**args, "sign": "bad"}]}))
        bad_sign = json.loads(await raw.recv())
        await raw.send(json.dumps({"op": "login", "args": [{**args, "timestamp": int(args["timestamp"])}]}))
        ok = json.loads(await raw.recv())  # python-okx sends the timestamp as a number

    assert need_login["code"] == "60011"
    assert bad_sign["code"] == "60007"
    assert (ok["event"], ok["code"]) == ("login", "0")


# --- faults --------------------------------------------------------------------------------------------------


async def test_latency_fault(okx: OKXClient, control: Control) -> None:
    await control("POST", "faults", {"latency_ms": 150})
    started = time.perf_counter()
    await okx.market.get_ticker("BTC-USDT")
    assert time.perf_counter() - started >= 0.15
    assert (await control("GET", "faults"))["latency_ms"] == 150


async def test_error_rate_fault_retries_reads_and_leaves_places_unknown(
    okx: OKXClient, sim: OKXSimulator, control: Control
) -> None:
    await control("POST", "faults", {"error_rate": 1})

    with pytest.raises((OKXServiceUnavailable, OKXTransportError)):
        await okx.trade.get_pending_orders()
    with pytest.raises(OKXOutcomeUnknown):
        await okx.trade.place_order(order(cl_ord_id="err1"))

    assert sim.exchange.find_order("BTC-USDT", None, "err1") is None  # nothing was done
    await control("POST", "faults", {"error_rate": 0})
    assert await okx.trade.get_pending_orders() == []


async def test_lose_response_fault_places_then_drops_the_answer(okx: OKXClient, control: Control) -> None:
    await control("POST", "faults", {"lose_response_rate": 1})

    with pytest.raises(OKXOutcomeUnknown) as raised:
        await okx.trade.place_order(order(cl_ord_id="lost1"))

    await control("POST", "faults", {"lose_response_rate": 0})
    found = await okx.trade.get_order("BTC-USDT", cl_ord_id="lost1")  # reconcile by clOrdId: it is there
    assert raised.value.client_order_id == "lost1"
    assert found.state == "live"


async def test_ws_drop_fault_and_client_reconnect(okx: OKXClient, sim: OKXSimulator, control: Control) -> None:
    async with OKXWebSocket(
        sim.ws_private_url, credentials=CREDENTIALS, clock=okx.now_s, reconnect_base_s=0.05, reconnect_max_s=0.1
    ) as ws:
        await ws.subscribe({"channel": "orders", "instType": "ANY"})
        assert await ws.next_event(5) == WSConnected(reconnected=False, connection_number=1)
        await control("POST", "faults", {"ws_drop_interval_s": 0.2})
        reconnected = await ws.next_event(5)
        await control("POST", "faults", {"ws_drop_interval_s": 0})
        while not ws.connected.is_set():
            await asyncio.sleep(0.05)
        await okx.trade.place_order(order(cl_ord_id="after1"))
        push = await _next_push(ws, "orders")

    assert isinstance(reconnected, WSConnected) and reconnected.reconnected
    assert push.data[0]["clOrdId"] == "after1"


async def test_duplicate_and_reordered_pushes(okx: OKXClient, sim: OKXSimulator, control: Control) -> None:
    async with OKXWebSocket(sim.ws_private_url, credentials=CREDENTIALS, clock=okx.now_s) as ws:
        await ws.subscribe({"channel": "orders", "instType": "ANY"})
        await ws.next_event(5)

        await control("POST", "faults", {"push_duplicate_rate": 1})
        await okx.trade.place_order(order(cl_ord_id="dupe1"))
        twice = [await _next_push(ws, "orders"), await _next_push(ws, "orders")]
        await control("POST", "faults", {"push_duplicate_rate": 0, "push_reorder_rate": 1})
        await okx.trade.place_order(order(cl_ord_id="first1"))
        await okx.trade.place_order(order(cl_ord_id="second1"))
        swapped = [(await _next_push(ws, "orders")).data[0]["clOrdId"] for _ in range(2)]

    assert [p.data[0]["clOrdId"] for p in twice] == ["dupe1", "dupe1"]
    assert swapped == ["second1", "first1"]


async def test_bad_fault_settings_are_refused(sim: OKXSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        unknown = await http.post("/sim/v1/faults", json={"chaos": 1})
        out_of_range = await http.post("/sim/v1/faults", json={"error_rate": 2})
        bad_price = await http.post("/sim/v1/price", json={"instId": "BTC-USDT", "px": "-1"})

    assert unknown.status_code == out_of_range.status_code == bad_price.status_code == 400
    assert "chaos" in unknown.json()["error"]


async def test_cancel_all_after_cancels_when_not_rearmed() -> None:
    async with OKXSimulator(sim_config(dead_man_time_scale=0.01)) as sim, client_for(sim) as okx:
        await okx.trade.place_order(order(cl_ord_id="dm1", tag="svc"))
        await okx.trade.place_order(order(cl_ord_id="dm2"))
        switch = DeadManSwitch(okx.trade, timeout_s=10, interval_s=5, tag="svc")
        armed = await switch.arm()  # 10 s at 1/100 scale: fires after 0.1 s
        await asyncio.sleep(0.3)

        assert armed is not None and armed.enabled
        assert (await okx.trade.get_order("BTC-USDT", cl_ord_id="dm1")).state == "canceled"
        assert (await okx.trade.get_order("BTC-USDT", cl_ord_id="dm2")).state == "live"  # other tag untouched


async def test_state_endpoint_matches_the_rest_answers(okx: OKXClient, control: Control) -> None:
    ack = await okx.trade.place_order(order(ord_type="market", px=None, sz="500", cl_ord_id="st1"))

    state = await control("GET", "state")

    [recorded] = [o for o in state["orders"] if o["ordId"] == ack.ord_id]
    assert recorded["state"] == "filled" and recorded["clOrdId"] == "st1"
    assert sum(Decimal(f["fillSz"]) for f in recorded["fills"]) == Decimal(recorded["accFillSz"])
    assert state["balances"]["USDT"]["frozen"] == "0"


async def test_retry_policy_survives_a_flaky_exchange(sim: OKXSimulator, control: Control) -> None:
    await control("POST", "faults", {"error_rate": 0.3})
    async with client_for(sim, retry_policy=RetryPolicy(attempts=10, base_delay_s=0.001, max_delay_s=0.01)) as okx:
        books = [await okx.market.get_order_book("BTC-USDT") for _ in range(20)]
    assert len(books) == 20


async def test_tls_for_clients_that_only_speak_https(tmp_path: Any) -> None:
    import ssl
    import subprocess

    from app.services.okx.transport import AiohttpTransport

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    simulator = OKXSimulator(sim_config())
    await simulator.start("127.0.0.1", 0, ssl_context=server_context)
    try:
        assert simulator.rest_url.startswith("https://") and simulator.ws_private_url.startswith("wss://")
        async with client_for(simulator, transport=AiohttpTransport(ssl_context=client_context)) as okx:
            balance = await okx.account.get_balance("USDT")
        async with websockets.connect(simulator.ws_public_url, ssl=client_context) as raw:
            await raw.send("ping")
            assert await raw.recv() == "pong"
    finally:
        await simulator.stop()

    assert balance.details[0].ccy == "USDT"
