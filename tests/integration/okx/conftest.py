"""The simulator on a loopback port and our `OKXClient` pointed at it: real HTTP and WebSocket, no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.services.okx.auth import OKXCredentials
from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import (
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
    OKXSimulator,
    SimulatorConfig,
)
from app.services.okx.trade import OrderRequest

CREDENTIALS = OKXCredentials.of(SANDBOX_API_KEY, SANDBOX_SECRET_KEY, SANDBOX_PASSPHRASE)


def sim_config(**overrides: Any) -> SimulatorConfig:
    """Frozen prices (tests move them) and no rate limits unless a test asks for them."""
    values: dict[str, Any] = {"tick_interval_s": 0.0, "rate_limits": False}
    values.update(overrides)
    return SimulatorConfig(**values)


def client_for(sim: OKXSimulator, **overrides: Any) -> OKXClient:
    values: dict[str, Any] = {
        "api_key": SANDBOX_API_KEY,
        "secret_key": SANDBOX_SECRET_KEY,
        "passphrase": SANDBOX_PASSPHRASE,
        "base_url": sim.rest_url,
        "rate_limiter": RateLimiter(enabled=False),
        "retry_policy": RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05),
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return OKXClient(**values)


@pytest.fixture
async def sim() -> AsyncIterator[OKXSimulator]:
    async with OKXSimulator(sim_config()) as simulator:
        yield simulator


@pytest.fixture
async def okx(sim: OKXSimulator) -> AsyncIterator[OKXClient]:
    async with client_for(sim) as client:
        yield client


@pytest.fixture
def control(sim: OKXSimulator) -> Callable[..., Awaitable[Any]]:
    """Call the simulator's /sim/v1 control API."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            response = await http.request(method, f"/sim/v1/{path}", json=body)
            response.raise_for_status()
            return response.json()

    return call


def order(
    inst_id: str = "BTC-USDT",
    side: str = "buy",
    ord_type: str = "limit",
    sz: str = "0.01",
    px: str | None = "49000",
    **fields: Any,
) -> OrderRequest:
    td_mode = "cross" if inst_id.endswith("-SWAP") else "cash"
    return OrderRequest(
        inst_id=inst_id,
        td_mode=td_mode,
        side=side,
        ord_type=ord_type,
        sz=Decimal(sz),
        px=Decimal(px) if px is not None else None,
        **fields,
    )
