"""Typed errors for every code callers branch on, and the retry / never-resend rules."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import httpx
import pytest
import respx

from app.services.okx.client import OKXClient
from app.services.okx.constants import LimitKey, RateLimit
from app.services.okx.errors import (
    OKXAPIError,
    OKXAuthError,
    OKXDuplicateClientOrderId,
    OKXError,
    OKXInstrumentNotFound,
    OKXInsufficientBalance,
    OKXInvalidOrder,
    OKXInvalidSignature,
    OKXOrderAlreadyFinished,
    OKXOrderNotFound,
    OKXOutcomeUnknown,
    OKXParameterError,
    OKXRateLimitError,
    OKXRequestExpired,
    OKXServiceUnavailable,
    OKXTimestampExpired,
    OKXTransportError,
)
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.trade import CancelRequest, OrderRequest
from tests.unit.okx.conftest import PASSPHRASE, SECRET, FakeClock
from tests.unit.okx.payloads import (
    ACCOUNT_BALANCE,
    BATCH_ORDERS_OK,
    CANCEL_ORDER_OK,
    ERROR_50004_ENDPOINT_TIMEOUT,
    ERROR_51016_DUPLICATE_CLORDID,
    ERROR_MESSAGES,
    GET_ORDER,
    HTTP_STATUS,
    PLACE_ORDER_FAIL_51008,
    PLACE_ORDER_OK,
)

ORDER = OrderRequest(
    inst_id="BTC-USDT",
    td_mode="cash",
    side="buy",
    ord_type="limit",
    sz=Decimal("0.01"),
    px=Decimal("50000"),
    cl_ord_id="b15",
)

EXPECTED_CLASS = {
    "50001": OKXServiceUnavailable,
    "50013": OKXServiceUnavailable,
    "50026": OKXServiceUnavailable,
    "51054": OKXServiceUnavailable,
    "51149": OKXServiceUnavailable,
    "51412": OKXServiceUnavailable,
    "50011": OKXRateLimitError,
    "50061": OKXRateLimitError,
    "50037": OKXRequestExpired,
    "50102": OKXTimestampExpired,
    "50113": OKXInvalidSignature,
    "50105": OKXAuthError,
    "51000": OKXParameterError,
    "51001": OKXInstrumentNotFound,
    "51008": OKXInsufficientBalance,
    "51016": OKXDuplicateClientOrderId,
    "51020": OKXInvalidOrder,
    "51121": OKXInvalidOrder,
    "51400": OKXOrderAlreadyFinished,
    "51401": OKXOrderAlreadyFinished,
    "51402": OKXOrderAlreadyFinished,
    "51503": OKXOrderAlreadyFinished,
    "51603": OKXOrderNotFound,
}
# Codes that are retried before giving up (the test then counts the attempts).
RETRIED = {"50001", "50013", "50026", "51054", "51149", "51412", "50011", "50061", "50102"}


# An item's own timeout: HTTP 200 with code "1", the place's sCode 51149 (it may have been carried out).
ITEM_51149 = {**PLACE_ORDER_FAIL_51008["data"][0], "clOrdId": "b15", "sCode": "51149", "sMsg": ERROR_MESSAGES["51149"]}


def envelope(code: str) -> httpx.Response:
    return httpx.Response(
        HTTP_STATUS.get(code, 200), json={"code": code, "msg": ERROR_MESSAGES.get(code, "x"), "data": []}
    )


def item_failure(code: str) -> httpx.Response:
    item = {**PLACE_ORDER_FAIL_51008["data"][0], "sCode": code, "sMsg": ERROR_MESSAGES.get(code, "x")}
    return httpx.Response(200, json={**PLACE_ORDER_FAIL_51008, "data": [item]})


@pytest.mark.parametrize(("code", "expected"), EXPECTED_CLASS.items())
async def test_top_level_code_raises_its_class(
    okx: OKXClient, okx_mock: respx.MockRouter, code: str, expected: type[OKXAPIError]
) -> None:
    route = okx_mock.get("/api/v5/trade/order").mock(return_value=envelope(code))

    with pytest.raises(expected) as raised:
        await okx.trade.get_order("BTC-USDT", ord_id="1")

    assert raised.value.code == code
    assert raised.value.message == ERROR_MESSAGES.get(code, "x")
    assert route.call_count == (okx.retry_policy.attempts if code in RETRIED else 1)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (code, cls)
        for code, cls in EXPECTED_CLASS.items()
        if code not in RETRIED - {"51412"}  # a cancel's own timeout is an item's sCode
    ],
)
async def test_item_scode_raises_its_class(
    okx: OKXClient, okx_mock: respx.MockRouter, code: str, expected: type[OKXAPIError]
) -> None:
    okx_mock.post("/api/v5/trade/cancel-order").mock(return_value=item_failure(code))

    with pytest.raises(expected) as raised:
        await okx.trade.cancel_order("BTC-USDT", ord_id="1")

    assert raised.value.code == code


async def test_documented_insufficient_balance_and_duplicate(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/order").mock(
        side_effect=[
            httpx.Response(200, json=PLACE_ORDER_FAIL_51008),
            httpx.Response(200, json=ERROR_51016_DUPLICATE_CLORDID),
        ]
    )

    with pytest.raises(OKXInsufficientBalance, match="Insufficient USDT balance"):
        await okx.trade.place_order(ORDER)
    with pytest.raises(OKXDuplicateClientOrderId):
        await okx.trade.place_order(ORDER)

    assert route.call_count == 2  # definite rejections: nothing retried


async def test_auth_error_without_data_field(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    okx_mock.get("/api/v5/account/balance").mock(
        return_value=httpx.Response(401, json={"msg": "Invalid signature.", "code": "50113"})
    )

    with pytest.raises(OKXInvalidSignature) as raised:
        await okx.account.get_balance()

    assert raised.value.http_status == 401


# --- place / amend: never re-sent blindly -----------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("refused"),  # even "not connected" is not trusted as "not sent" for a place
        httpx.RemoteProtocolError("peer closed"),
        httpx.Response(200, json=ERROR_50004_ENDPOINT_TIMEOUT),
        httpx.Response(503, json={"code": "50001", "msg": ERROR_MESSAGES["50001"], "data": []}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(500, json={"code": "51149", "msg": ERROR_MESSAGES["51149"], "data": []}),
        httpx.Response(500, json={"code": "51054", "msg": ERROR_MESSAGES["51054"], "data": []}),
        httpx.Response(200, json={**PLACE_ORDER_FAIL_51008, "data": [ITEM_51149]}),
    ],
    ids=[
        "read-timeout", "connect-error", "protocol-error", "50004", "50001", "502-html", "51149", "51054", "item-51149"
    ],
)  # fmt: skip
async def test_ambiguous_place_is_outcome_unknown_and_sent_once(
    okx: OKXClient, okx_mock: respx.MockRouter, failure: Exception | httpx.Response
) -> None:
    route = okx_mock.post("/api/v5/trade/order")
    if isinstance(failure, Exception):
        route.mock(side_effect=failure)
    else:
        route.mock(return_value=failure)

    with pytest.raises(OKXOutcomeUnknown) as raised:
        await okx.trade.place_order(ORDER, exp_time_ms=1597026390000)

    assert route.call_count == 1
    assert raised.value.client_order_id == "b15"
    assert raised.value.exp_time_ms == 1597026390000


async def test_ambiguous_amend_is_outcome_unknown(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    from app.services.okx.trade import AmendRequest

    route = okx_mock.post("/api/v5/trade/amend-order").mock(side_effect=httpx.ReadTimeout("timeout"))

    with pytest.raises(OKXOutcomeUnknown):
        await okx.trade.amend_order(AmendRequest("BTC-USDT", cl_ord_id="b15", new_px=Decimal("1")))

    assert route.call_count == 1


async def test_rate_limited_place_is_retried_with_the_same_exp_time(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/order").mock(
        side_effect=[
            envelope("50011"),
            httpx.Response(429, text="Too Many Requests"),
            httpx.Response(200, json=PLACE_ORDER_OK),
        ]
    )

    ack = await okx.trade.place_order(ORDER, exp_time_ms=1597026390000)

    assert ack.ok
    assert route.call_count == 3
    assert {call.request.headers["expTime"] for call in route.calls} == {"1597026390000"}


async def test_a_place_is_never_sent_after_its_exp_time(
    okx: OKXClient, okx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    exp_time_ms = int(clock.now * 1000) + 500

    def rate_limited_while_time_passes(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0  # the backoff outlives the order's validity
        return envelope("50011")

    route = okx_mock.post("/api/v5/trade/order").mock(side_effect=rate_limited_while_time_passes)

    with pytest.raises(OKXRequestExpired):  # a definite "not placed": the retry was not sent
        await okx.trade.place_order(ORDER, exp_time_ms=exp_time_ms)
    assert route.call_count == 1

    with pytest.raises(OKXRequestExpired):
        await okx.trade.place_order(ORDER, exp_time_ms=int(clock.now * 1000) - 1)
    assert route.call_count == 1  # already expired: nothing sent at all


# --- idempotent calls: retried with backoff -----------------------------------------------------------------


async def test_get_is_retried_on_network_errors_and_5xx(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/trade/order").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503, json={"code": "50001", "msg": ERROR_MESSAGES["50001"], "data": []}),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json=GET_ORDER),
        ]
    )

    order = await okx.trade.get_order("BTC-USDT", ord_id="680800019749904384")

    assert order.state == "filled"
    assert route.call_count == 4


async def test_cancel_is_retried_because_repeating_it_is_safe(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/cancel-order").mock(
        side_effect=[httpx.ReadTimeout("timeout"), httpx.Response(200, json=CANCEL_ORDER_OK)]
    )

    assert (await okx.trade.cancel_order("BTC-USDT", ord_id="1")).ok
    assert route.call_count == 2


async def test_retries_are_bounded(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/account/balance").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(OKXTransportError):
        await okx.account.get_balance()

    assert route.call_count == okx.retry_policy.attempts


async def test_definite_errors_are_not_retried(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/trade/order").mock(return_value=envelope("51603"))

    with pytest.raises(OKXOrderNotFound):
        await okx.trade.get_order("BTC-USDT", cl_ord_id="gone")

    assert route.call_count == 1


# --- batches ----------------------------------------------------------------------------------------------


async def test_batch_place_splits_into_twenties_and_keeps_every_result(
    okx: OKXClient, okx_mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        import json

        items = json.loads(request.content)
        results = [
            {
                "clOrdId": item["clOrdId"],
                "ordId": f"o{item['clOrdId']}",
                "tag": "",
                "ts": "1695190491421",
                "sCode": "51008" if item["clOrdId"] == "c21" else "0",
                "sMsg": ERROR_MESSAGES["51008"] if item["clOrdId"] == "c21" else "",
            }
            for item in items
        ]
        failed = any(r["sCode"] != "0" for r in results)
        return httpx.Response(200, json={"code": "2" if failed else "0", "msg": "", "data": results})

    route = okx_mock.post("/api/v5/trade/batch-orders").mock(side_effect=answer)
    orders = [
        OrderRequest(
            inst_id="BTC-USDT",
            td_mode="cash",
            side="buy",
            ord_type="limit",
            sz=Decimal("1"),
            px=Decimal("10"),
            cl_ord_id=f"c{n}",
        )
        for n in range(45)
    ]

    results = await okx.trade.place_orders(orders)

    assert sorted(len(__import__("json").loads(call.request.content)) for call in route.calls) == [5, 20, 20]
    assert len(results) == 45
    assert isinstance(results[21], OKXInsufficientBalance)
    assert [r.cl_ord_id for r in results if not isinstance(r, OKXError)] == [f"c{n}" for n in range(45) if n != 21]


async def test_one_order_batch_uses_the_single_order_endpoint(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    single = okx_mock.post("/api/v5/trade/order").mock(return_value=httpx.Response(200, json=PLACE_ORDER_OK))
    batch = okx_mock.post("/api/v5/trade/batch-orders").mock(return_value=httpx.Response(200, json=BATCH_ORDERS_OK))

    [result] = await okx.trade.place_orders([ORDER])

    assert single.call_count == 1 and batch.call_count == 0
    assert not isinstance(result, OKXError) and result.ok


async def test_lost_batch_answer_makes_every_item_outcome_unknown(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/batch-orders").mock(side_effect=httpx.ReadTimeout("timeout"))
    orders = [
        OrderRequest(
            inst_id="BTC-USDT",
            td_mode="cash",
            side="buy",
            ord_type="limit",
            sz=Decimal("1"),
            px=Decimal("10"),
            cl_ord_id=f"u{n}",
        )
        for n in range(3)
    ]

    results = await okx.trade.place_orders(orders)

    assert route.call_count == 1
    assert all(isinstance(result, OKXOutcomeUnknown) for result in results)
    assert [result.client_order_id for result in results] == ["u0", "u1", "u2"]  # type: ignore[union-attr]


async def test_batch_cancel_reports_per_item_errors(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    okx_mock.post("/api/v5/trade/cancel-batch-orders").mock(
        return_value=httpx.Response(
            200,
            json={
                "code": "2",
                "msg": "",
                "data": [
                    {"clOrdId": "", "ordId": "1", "sCode": "0", "sMsg": ""},
                    {"clOrdId": "", "ordId": "2", "sCode": "51400", "sMsg": ERROR_MESSAGES["51400"]},
                ],
            },
        )
    )

    first, second = await okx.trade.cancel_orders(
        [CancelRequest("BTC-USDT", ord_id="1"), CancelRequest("BTC-USDT", ord_id="2")]
    )

    assert not isinstance(first, OKXError) and first.ok
    assert isinstance(second, OKXOrderAlreadyFinished)


# --- rate limits ------------------------------------------------------------------------------------------


async def test_limiter_waits_per_instrument_and_counts_batch_items() -> None:
    limits = {("POST", "/api/v5/trade/order"): RateLimit(2, 1.0, LimitKey.INSTRUMENT)}
    limiter = RateLimiter(limits=limits)

    await limiter.acquire("POST", "/api/v5/trade/order", [{"instId": "BTC-USDT"}])
    await limiter.acquire("POST", "/api/v5/trade/order", [{"instId": "BTC-USDT"}])
    # The bucket of BTC-USDT is full: the third waits; another instrument does not.
    third = asyncio.create_task(limiter.acquire("POST", "/api/v5/trade/order", [{"instId": "BTC-USDT"}]))
    await asyncio.wait_for(limiter.acquire("POST", "/api/v5/trade/order", [{"instId": "ETH-USDT"}]), 0.05)
    await asyncio.sleep(0.05)
    assert not third.done()
    await asyncio.wait_for(third, 2.0)


async def test_a_replica_given_half_of_okxs_limits_takes_half_of_every_bucket() -> None:
    """Two replicas on one account, each with OKX_RATE_LIMIT_SHARE=0.5: together they stay within OKX's limits
    (60 orders per 2 s per instrument, 1,000 new or amended orders per 2 s per account)."""
    limiter = RateLimiter(share=0.5)

    assert await limiter.try_acquire("POST", "/api/v5/trade/order", [{"instId": "BTC-USDT"}] * 1)
    buckets = limiter._buckets  # noqa: SLF001 - the test reads the levels it filled
    assert buckets[("POST", "/api/v5/trade/order", "BTC-USDT")].max_rate == 30
    assert buckets[("POST", "order-rate-cap", "")].max_rate == 500
    with pytest.raises(ValueError, match="share"):
        RateLimiter(share=0)


async def test_batch_items_are_counted_per_instrument_and_against_the_account_cap() -> None:
    limiter = RateLimiter()
    items = [{"instId": "BTC-USDT"}] * 15 + [{"instId": "ETH-USDT"}] * 5

    await limiter.acquire("POST", "/api/v5/trade/batch-orders", items)

    buckets = limiter._buckets  # noqa: SLF001 - the test reads the levels it filled
    assert buckets[("POST", "/api/v5/trade/batch-orders", "BTC-USDT")].has_capacity(285)
    assert not buckets[("POST", "/api/v5/trade/batch-orders", "BTC-USDT")].has_capacity(286)
    assert not buckets[("POST", "/api/v5/trade/batch-orders", "ETH-USDT")].has_capacity(296)
    assert not buckets[("POST", "order-rate-cap", "")].has_capacity(981)


async def test_client_requests_wait_on_the_limiter(okx_mock: respx.MockRouter, clock: FakeClock) -> None:
    limits = {("GET", "/api/v5/account/balance"): RateLimit(1, 0.5)}
    okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))
    async with OKXClient(
        "k",
        SECRET,
        PASSPHRASE,
        "https://okx.test",
        transport=httpx.MockTransport(okx_mock.async_handler),
        rate_limiter=RateLimiter(limits=limits),
        clock=clock,
    ) as okx:
        await okx.account.get_balance()
        second = asyncio.create_task(okx.account.get_balance())
        await asyncio.sleep(0.1)
        assert not second.done()  # waiting here instead of earning 50011
        await asyncio.wait_for(second, 2.0)


# --- secrets ----------------------------------------------------------------------------------------------


async def test_no_secret_in_logs_errors_or_reprs(
    okx: OKXClient, okx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    okx_mock.get("/api/v5/account/balance").mock(return_value=httpx.Response(200, json=ACCOUNT_BALANCE))
    okx_mock.post("/api/v5/trade/order").mock(side_effect=httpx.ReadTimeout("timeout"))
    okx_mock.get("/api/v5/trade/order").mock(return_value=envelope("50113"))

    await okx.account.get_balance()
    signature = okx_mock.routes[1].calls.last.request.headers["OK-ACCESS-SIGN"]
    errors: list[BaseException] = []
    for call in (okx.trade.place_order(ORDER), okx.trade.get_order("BTC-USDT", ord_id="1")):
        try:
            await call
        except OKXError as exc:
            errors.append(exc)

    texts = [caplog.text, repr(okx), str(okx), repr(okx.credentials)] + [f"{e!r} {e}" for e in errors]
    for text in texts:
        for secret in (SECRET, PASSPHRASE, signature):
            assert secret not in text


# --- malformed answers: always a typed OKX error ----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json=None),
        httpx.Response(200, json={"code": "0", "msg": "", "data": [{}]}),  # an item without sCode
        httpx.Response(200, json={"code": "0", "msg": "", "data": {"ordId": "1"}}),  # data not a list
    ],
    ids=["html", "null", "item-without-scode", "data-not-a-list"],
)
async def test_unreadable_place_answer_is_outcome_unknown(
    okx: OKXClient, okx_mock: respx.MockRouter, answer: httpx.Response
) -> None:
    okx_mock.post("/api/v5/trade/order").mock(return_value=answer)

    with pytest.raises(OKXOutcomeUnknown):
        await okx.trade.place_order(ORDER)


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/api/v5/trade/order", lambda okx: okx.trade.get_order("BTC-USDT", ord_id="1")),
        ("/api/v5/market/ticker", lambda okx: okx.market.get_ticker("BTC-USDT")),
        ("/api/v5/account/config", lambda okx: okx.account.get_config()),
    ],
    ids=["order", "ticker", "config"],
)
async def test_empty_or_malformed_lookups_are_typed_errors(
    okx: OKXClient, okx_mock: respx.MockRouter, path: str, call: object
) -> None:
    okx_mock.get(path).mock(
        side_effect=[
            httpx.Response(200, json={"code": "0", "msg": "", "data": []}),
            httpx.Response(200, json={"code": "0", "msg": "", "data": [{"x": 1}]}),
        ]
    )

    for _ in range(2):
        with pytest.raises(OKXError):  # typed: an empty ticker is "no such instrument", the rest "unreadable"
            await call(okx)  # type: ignore[operator]


async def test_a_malformed_batch_item_does_not_lose_the_other_acks(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    okx_mock.post("/api/v5/trade/batch-orders").mock(
        return_value=httpx.Response(
            200,
            json={
                "code": "0",
                "msg": "",
                "data": [BATCH_ORDERS_OK["data"][0], {"clOrdId": "oktswap7"}],
            },
        )
    )
    orders = [
        ORDER,
        OrderRequest(
            inst_id="BTC-USDT",
            td_mode="cash",
            side="buy",
            ord_type="limit",
            sz=Decimal("1"),
            px=Decimal("1"),
            cl_ord_id="oktswap7",
        ),
    ]

    first, second = await okx.trade.place_orders(orders)

    assert not isinstance(first, OKXError) and first.ord_id == "12345689"
    assert isinstance(second, OKXOutcomeUnknown) and second.client_order_id == "oktswap7"


async def test_a_closed_client_sends_nothing(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    await okx.aclose()

    with pytest.raises(OKXTransportError, match="closed"):
        await okx.public.get_server_time()
