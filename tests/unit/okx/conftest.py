"""A respx-mocked OKX behind a real `OKXClient` (the mock is the client's transport), with a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import respx

from app.services.okx.client import OKXClient, RetryPolicy
from tests.unit.okx.payloads import PUBLIC_TIME

BASE_URL = "https://okx.test"
API_KEY = "test-api-key-0001"
SECRET = "SECRET-7f3a9c-DO-NOT-LOG"
PASSPHRASE = "PASSPHRASE-DO-NOT-LOG"
# The documented /public/time answer: 1597026383085 ms.
SERVER_NOW_S = int(PUBLIC_TIME["data"][0]["ts"]) / 1000


@dataclass
class FakeClock:
    """Local time, frozen unless a test moves it."""

    now: float = SERVER_NOW_S

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def okx_mock() -> respx.MockRouter:
    router = respx.MockRouter(base_url=BASE_URL, assert_all_called=False)
    router.get("/api/v5/public/time", name="time").mock(return_value=httpx.Response(200, json=PUBLIC_TIME))
    return router


@pytest.fixture
async def okx(okx_mock: respx.MockRouter, clock: FakeClock) -> AsyncIterator[OKXClient]:
    client = OKXClient(
        api_key=API_KEY,
        secret_key=SECRET,
        passphrase=PASSPHRASE,
        base_url=BASE_URL,
        transport=httpx.MockTransport(okx_mock.async_handler),
        retry_policy=RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.005),
        clock=clock,
    )
    yield client
    await client.aclose()
