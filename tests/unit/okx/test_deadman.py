"""The dead-man switch re-arms OKX's cancel-all-after while healthy, stops when not, and disarms on a clean stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.deadman import DeadManSwitch
from app.services.okx.ratelimit import RateLimiter
from tests.unit.okx.conftest import BASE_URL, PASSPHRASE, SECRET, FakeClock
from tests.unit.okx.payloads import CANCEL_ALL_AFTER


@pytest.fixture
async def okx(okx_mock: respx.MockRouter, clock: FakeClock) -> AsyncIterator[OKXClient]:
    """Without the client's rate limiter (OKX allows one cancel-all-after a second), so beats can be fast here."""
    async with OKXClient(
        "key",
        SECRET,
        PASSPHRASE,
        BASE_URL,
        transport=httpx.MockTransport(okx_mock.async_handler),
        clock=clock,
        rate_limiter=RateLimiter(enabled=False),
        retry_policy=RetryPolicy(attempts=2, base_delay_s=0.001),
    ) as client:
        yield client


@pytest.fixture
def cancel_all_after(okx_mock: respx.MockRouter) -> respx.Route:
    return okx_mock.post("/api/v5/trade/cancel-all-after").mock(return_value=httpx.Response(200, json=CANCEL_ALL_AFTER))


def timeouts(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["timeOut"] for call in route.calls]


async def test_rearms_periodically_and_disarms_on_stop(okx: OKXClient, cancel_all_after: respx.Route) -> None:
    switch = DeadManSwitch(okx.trade, timeout_s=10, interval_s=0.05, tag="svc1")

    await switch.start()
    await asyncio.sleep(0.18)
    await switch.stop()

    sent = timeouts(cancel_all_after)
    assert sent[:-1] == ["10"] * (len(sent) - 1) and len(sent) >= 4
    assert sent[-1] == "0"
    assert all(json.loads(call.request.content)["tag"] == "svc1" for call in cancel_all_after.calls)
    assert switch.last_armed is not None and switch.last_armed.enabled
    assert not switch.running


async def test_unhealthy_service_lets_the_timer_run_out(okx: OKXClient, cancel_all_after: respx.Route) -> None:
    healthy = True
    switch = DeadManSwitch(okx.trade, timeout_s=10, interval_s=0.02, is_healthy=lambda: healthy)

    assert await switch.arm() is not None
    healthy = False
    assert await switch.arm() is None

    assert timeouts(cancel_all_after) == ["10"]


async def test_a_failed_heartbeat_is_counted_not_raised(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    okx_mock.post("/api/v5/trade/cancel-all-after").mock(
        return_value=httpx.Response(200, json={"code": "50011", "msg": "Rate limit reached.", "data": []})
    )
    switch = DeadManSwitch(okx.trade, timeout_s=10, interval_s=1)

    assert await switch.arm() is None
    assert switch.failures == 1


def test_bad_settings_are_refused(okx: OKXClient) -> None:
    with pytest.raises(ValueError):
        DeadManSwitch(okx.trade, timeout_s=5)
    with pytest.raises(ValueError):
        DeadManSwitch(okx.trade, timeout_s=30, interval_s=30)


@pytest.mark.parametrize(
    "answer",
    [
        {"code": "0", "msg": "", "data": []},
        {"code": "0", "msg": "", "data": [{"triggerTime": 1587971460, "tag": "", "ts": 1587971400}]},
    ],
    ids=["empty", "numbers"],
)
async def test_odd_answers_never_stop_the_heartbeat(okx: OKXClient, okx_mock: respx.MockRouter, answer: dict) -> None:
    okx_mock.post("/api/v5/trade/cancel-all-after").mock(return_value=httpx.Response(200, json=answer))
    switch = DeadManSwitch(okx.trade, timeout_s=10, interval_s=0.01)

    await switch.start()
    await asyncio.sleep(0.05)
    assert switch.running
    await switch.stop()

    if answer["data"]:
        assert switch.last_armed is not None and switch.last_armed.trigger_time == "1587971460"
    else:
        assert switch.failures >= 2
