"""Signing against fixed vectors (computed independently with `openssl dgst -sha256 -hmac … | base64`)."""

from __future__ import annotations

import httpx
import respx

from app.services.okx.auth import OKXCredentials, iso_timestamp, sign
from app.services.okx.client import OKXClient
from tests.unit.okx.conftest import API_KEY, BASE_URL, PASSPHRASE, SECRET, FakeClock
from tests.unit.okx.payloads import ACCOUNT_BALANCE, PUBLIC_TIME

VECTOR_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
VECTOR_TS = "2020-12-08T09:08:57.715Z"


def test_get_signature_covers_the_query_string() -> None:
    signature = sign(VECTOR_SECRET, VECTOR_TS, "GET", "/api/v5/account/balance?ccy=BTC")

    assert signature == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="


def test_post_signature_covers_the_raw_body() -> None:
    body = (
        '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.01","px":"50000","clOrdId":"b15"}'
    )

    assert sign(VECTOR_SECRET, VECTOR_TS, "post", "/api/v5/trade/order", body) == (
        "LvKJaysZTaMIyGcBVuXBuxGq5KjY41PF+EZuwG7eMu4="
    )


def test_websocket_login_signature() -> None:
    credentials = OKXCredentials.of("key", VECTOR_SECRET, "pass")

    args = credentials.ws_login_args(1538054050)

    assert args == {
        "apiKey": "key",
        "passphrase": "pass",
        "timestamp": "1538054050",
        "sign": "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=",
    }


def test_timestamp_is_iso_utc_with_milliseconds() -> None:
    assert iso_timestamp(1607418537.715) == VECTOR_TS
    assert iso_timestamp(1607418537.0) == "2020-12-08T09:08:57.000Z"


async def test_signed_request_carries_the_four_headers(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))

    await okx.account.get_balance("BTC")

    request = route.calls.last.request
    timestamp = request.headers["OK-ACCESS-TIMESTAMP"]
    assert request.url.raw_path == b"/api/v5/account/balance?ccy=BTC"
    assert request.headers["OK-ACCESS-KEY"] == API_KEY
    assert request.headers["OK-ACCESS-PASSPHRASE"] == PASSPHRASE
    assert request.headers["OK-ACCESS-SIGN"] == sign(SECRET, timestamp, "GET", "/api/v5/account/balance?ccy=BTC")
    assert "x-simulated-trading" not in request.headers


async def test_public_requests_are_not_signed(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    await okx.public.get_server_time()

    assert "OK-ACCESS-SIGN" not in okx_mock["time"].calls.last.request.headers


async def test_demo_adds_the_simulated_trading_header(okx_mock: respx.MockRouter, clock: FakeClock) -> None:
    route = okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))
    transport = httpx.MockTransport(okx_mock.async_handler)
    async with OKXClient(API_KEY, SECRET, PASSPHRASE, BASE_URL, demo=True, transport=transport, clock=clock) as okx:
        await okx.account.get_balance()

    assert route.calls.last.request.headers["x-simulated-trading"] == "1"


async def test_timestamp_follows_okx_clock_not_ours(
    okx: OKXClient, okx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    """A local clock 90 s behind would earn 50102; the measured offset corrects it."""
    clock.now -= 90.0
    route = okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))

    await okx.account.get_balance()

    assert okx.clock_offset_s == 90.0
    server_ts = iso_timestamp(int(PUBLIC_TIME["data"][0]["ts"]) / 1000)
    assert route.calls.last.request.headers["OK-ACCESS-TIMESTAMP"] == server_ts


async def test_clock_is_resynced_after_the_interval(
    okx: OKXClient, okx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))

    await okx.account.get_balance()
    await okx.account.get_balance()
    clock.now += okx.time_sync_interval_s + 1
    await okx.account.get_balance()

    assert okx_mock["time"].call_count == 2


async def test_timestamp_expired_resyncs_and_retries(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/account/balance").mock(
        side_effect=[
            httpx.Response(401, json={"msg": "Timestamp request expired", "code": "50102"}),
            httpx.Response(200, json=ACCOUNT_BALANCE),
        ]
    )

    balance = await okx.account.get_balance()

    assert route.call_count == 2
    assert okx_mock["time"].call_count == 2  # once at first use, once after the 50102
    assert balance.total_eq is not None


def test_signed_query_is_what_goes_on_the_wire() -> None:
    """httpx and yarl (under httpx-aiohttp) unescape some characters; the signed query must already be in that form."""
    import string

    import yarl

    from app.services.okx.client import encode_query

    for character in string.printable[:95]:
        query = encode_query({"instId": f"A{character}B", "ccy": "BTC,USDT"})
        url = httpx.URL(f"https://okx.test/api/v5/x?{query}")
        assert url.raw_path.decode() == f"/api/v5/x?{query}"
        assert yarl.URL(str(url)).raw_path_qs == f"/api/v5/x?{query}"
