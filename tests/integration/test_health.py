"""`/health` answers without I/O; `/ready` says whether the database can be reached, and never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.config import load_settings
from app.main import create_app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_health_and_ready_on_a_migrated_database(database_url: str) -> None:
    app = create_app(load_settings(database_url=database_url, _env_file=None))
    async with serve(app) as client:
        health = await client.get("/health")
        await asyncio.wait_for(app.state.trading.started.wait(), 15)
        ready = await client.get("/ready")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "exchange": "ok"}, "role": "leader"},
    )
    assert app.state.exchange.simulator is not None  # sim without OKX_REST_URL: the in-process simulator


async def test_ready_is_503_with_the_reason_when_the_database_is_down() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
    app = create_app(load_settings(database_url=unreachable, _env_file=None))
    async with serve(app) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")

    assert health.status_code == 200  # the process is up even when its database is not
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"].startswith("unreachable: ")


async def test_ready_is_503_when_the_exchange_is_unreachable(database_url: str) -> None:
    settings = load_settings(database_url=database_url, okx_rest_url="http://127.0.0.1:1", _env_file=None)
    app = create_app(settings)
    async with serve(app) as client:
        ready = await client.get("/ready")

    assert app.state.exchange.simulator is None  # sim with OKX_REST_URL: a simulator elsewhere
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["exchange"] != "ok"
