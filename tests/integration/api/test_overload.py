"""Overload: with the database pool or OKX's rate limit used up, requests are answered 503/429 at once with
Retry-After, never left hanging, and nothing is left half-written."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.services.okx.constants import LimitKey, RateLimit
from app.services.okx.errors import OKXAPIError, OKXOutcomeUnknown, OKXRateLimitWaitExceeded
from app.services.okx.ratelimit import RateLimiter
from app.services.trading.order_manager import OrderManager
from tests.integration.api.conftest import Api

ORDER = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49000"}


async def test_exchange_rate_limit_used_up_is_429_at_once_and_the_order_is_closed(api: Api) -> None:
    client = api.app.state.exchange.client
    client._limiter = RateLimiter(limits={("POST", "/api/v5/trade/order"): RateLimit(1, 60, LimitKey.INSTRUMENT)})
    client.max_rate_wait_s = 0.2
    trade = api.as_("trade")

    first = await api.client.post("/api/v1/trading/orders", json={**ORDER, "client_order_id": "k1"}, headers=trade)
    started = time.monotonic()
    second = await api.client.post("/api/v1/trading/orders", json={**ORDER, "client_order_id": "k2"}, headers=trade)
    waited = time.monotonic() - started

    assert first.status_code == 201, first.text
    assert second.status_code == 429, second.text
    assert second.headers["Retry-After"] == "1"
    assert second.json()["error"]["code"] == "exchange_rate_limited"
    assert waited < 2.0  # the bounded wait (0.2 s, tried 3 times with backoff), not a queue
    sim_orders = api.app.state.exchange.simulator.exchange.state()["orders"]
    assert len(sim_orders) == 1  # the second was never sent
    listed = (await api.client.get("/api/v1/trading/orders", headers=trade)).json()["items"]
    refused = [o for o in listed if o["id"] != first.json()["id"]]
    assert [(o["status"], o["error_code"]) for o in refused] == [("rejected", "50011")]  # closed, not pending
    details = second.json()["error"]["details"]  # the refusal names the row it closed, so the caller can match it
    assert details == {
        "okx_code": "50011",
        "order_id": refused[0]["id"],
        "client_order_id": refused[0]["client_order_id"],
    }

    # The limit frees up: the same idempotency key places the order now (the refused one released it).
    client._limiter = RateLimiter()
    again = await api.client.post("/api/v1/trading/orders", json={**ORDER, "client_order_id": "k2"}, headers=trade)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != refused[0]["id"] and again.json()["status"] == "live"


@pytest.mark.postgres_only
async def test_database_pool_used_up_is_503_at_once_and_nothing_is_written(api: Api) -> None:
    trade = api.as_("trade")
    assert (await api.client.get("/api/v1/trading/orders", headers=trade)).status_code == 200  # the key is known
    engine = api.app.state.engine
    engine.pool._timeout = 0.3  # as DATABASE_POOL_TIMEOUT_S=0.3 would set it
    lane = api.app.state.direct_lane  # the order path's one-statement units of work take its connections
    lane._timeout_s = 0.3

    async with AsyncExitStack() as held:
        while True:  # take every connection the pool will give
            try:
                await held.enter_async_context(engine.connect())
            except PoolTimeout:
                break
        for _ in range(lane._pool.get_max_size()):
            await held.enter_async_context(lane._pool.acquire())
        for method, path, body in [
            ("GET", "/api/v1/trading/orders", None),
            ("POST", "/api/v1/trading/orders", ORDER),
            ("POST", "/api/v1/trading/signals", {"strategy_id": "s", "instrument_id": "BTC-USDT", "side": "buy",
                                                 "size": "0.01"}),
        ]:  # fmt: skip
            started = time.monotonic()
            answer = await api.client.request(method, path, json=body, headers=trade)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"]["code"] == "database_busy"
            assert answer.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 2.0

    listed = await api.client.get("/api/v1/trading/orders", headers=trade)
    assert listed.status_code == 200 and listed.json()["items"] == []  # nothing half-written
    assert api.app.state.exchange.simulator.exchange.state()["orders"] == []  # and nothing sent


@pytest.mark.postgres_only
async def test_an_order_the_exchange_accepted_is_answered_as_placed_when_its_acknowledgement_cannot_be_stored(
    api: Api,
) -> None:
    """The database is busy just after the exchange accepted the order: the caller is told it is placed (with its
    exchange id), not 503, which a retry without an idempotency key would turn into a second order; the row is
    brought up to date from the exchange once the database is free."""
    trade = api.as_("trade")
    assert (await api.client.get("/api/v1/trading/orders", headers=trade)).status_code == 200  # the key is known
    lane = api.app.state.direct_lane
    lane._timeout_s = 0.3
    api.app.state.trading.tracker.poll_interval_s = 0.2
    okx_trade = api.app.state.exchange.client.trade
    place_order = okx_trade.place_order
    held = AsyncExitStack()

    async def placed_then_database_busy(*args: Any, **kwargs: Any) -> Any:
        answer = await place_order(*args, **kwargs)
        for _ in range(lane._pool.get_max_size()):  # every lane connection, idle or not, held
            await held.enter_async_context(lane._connection())
        return answer

    okx_trade.place_order = placed_then_database_busy
    try:
        answer = await api.client.post("/api/v1/trading/orders", json=ORDER, headers=trade)
    finally:
        okx_trade.place_order = place_order
        await held.aclose()

    assert answer.status_code == 201, answer.text
    placed = answer.json()
    [on_exchange] = api.app.state.exchange.simulator.exchange.state()["orders"]
    assert placed["exchange_order_id"] == on_exchange["ordId"] and placed["status"] == "live"

    async def stored() -> dict[str, Any]:
        return (await api.client.get(f"/api/v1/trading/orders/{placed['id']}", headers=trade)).json()

    deadline = time.monotonic() + 10
    while (row := await stored())["status"] != "live" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert (row["status"], row["exchange_order_id"]) == ("live", on_exchange["ordId"])
    listed = (await api.client.get("/api/v1/trading/orders", headers=trade)).json()["items"]
    assert [order["id"] for order in listed] == [placed["id"]]  # one order, not two


@pytest.mark.parametrize("answer", ["outcome_unknown", "rejected", "rate_limited"])
async def test_an_exchange_answer_that_cannot_be_stored_is_still_the_callers(
    api: Api, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """The exchange's answer is lost on the way back (the order placed) or is a refusal, and the database is busy
    as it is stored: the caller is told `unknown` or `rejected`, not 503 `database_busy`, which says nothing was
    placed (under overload, 49 such orders were answered 503, CI load 2026-12-07). The row is settled from the
    exchange once the database is free: live, or failed (absent once its expTime has passed). Refused here over
    OKX's rate limit (nothing sent), the caller is told 429 naming the row, not 503."""
    trade = api.as_("trade")
    api.app.state.trading.tracker.poll_interval_s = 0.2
    okx_trade = api.app.state.exchange.client.trade
    place_order = okx_trade.place_order
    busy = False
    lock = OrderManager.lock

    async def lock_unless_busy(self: OrderManager, *args: Any, **kwargs: Any) -> Any:
        if busy:
            raise PoolTimeout("every connection is in use")
        return await lock(self, *args, **kwargs)

    async def answered_then_database_busy(*args: Any, **kwargs: Any) -> Any:
        nonlocal busy
        busy = True
        if answer == "rejected":
            raise OKXAPIError("Insufficient balance", code="51008")
        if answer == "rate_limited":
            raise OKXRateLimitWaitExceeded("OKX's rate limit is used up; nothing sent", code="50011")
        await place_order(*args, **kwargs)
        raise OKXOutcomeUnknown("no answer", client_order_id=args[0].cl_ord_id)

    monkeypatch.setattr(OrderManager, "lock", lock_unless_busy)
    monkeypatch.setattr(okx_trade, "place_order", answered_then_database_busy)
    told = await api.client.post("/api/v1/trading/orders", json=ORDER, headers=trade)
    busy = False
    monkeypatch.setattr(okx_trade, "place_order", place_order)

    on_exchange = api.app.state.exchange.simulator.exchange.state()["orders"]
    if answer == "rate_limited":
        assert told.status_code == 429, told.text
        assert told.json()["error"]["code"] == "exchange_rate_limited" and on_exchange == []
        order_id = told.json()["error"]["details"]["order_id"]
        await api.as_if_its_exp_time_passed(order_id)
        settled = "failed"
    elif answer == "rejected":
        assert told.status_code == 201, told.text
        assert (told.json()["status"], told.json()["error_code"]) == ("rejected", "51008")
        assert on_exchange == []
        order_id = told.json()["id"]
        await api.as_if_its_exp_time_passed(order_id)
        settled = "failed"
    else:
        assert told.status_code == 201, told.text
        assert told.json()["status"] == "unknown"
        assert [o["clOrdId"] for o in on_exchange] == [told.json()["client_order_id"]]
        order_id = told.json()["id"]
        settled = "live"

    async def stored() -> str:
        return str((await api.client.get(f"/api/v1/trading/orders/{order_id}", headers=trade)).json()["status"])

    deadline = time.monotonic() + 10
    while (status := await stored()) != settled and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert status == settled
