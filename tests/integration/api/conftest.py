"""The service in-process (lifespan, in-process simulator) on a database of its own, with API keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.config import load_settings
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.migrations import upgrade_to_head_async
from app.models.trading import Order, OrderStatus
from app.services.auth import create_api_key


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    keys: dict[str, str]

    def as_(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    async def as_if_never_acknowledged(self, order_id: int) -> None:
        """The stored order as if its acknowledgement had never been stored (the service died between)."""
        async with self.app.state.session_factory() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            order.status, order.exchange_order_id = OrderStatus.PENDING_SUBMIT, None
            await session.commit()

    async def as_if_its_exp_time_passed(self, order_id: int) -> None:
        """The stored order's expTime (and the clock margin after it) passed a minute ago."""
        async with self.app.state.session_factory() as session:
            order = await session.get(Order, order_id)
            assert order is not None and order.submit_expires_at is not None
            order.submit_expires_at -= timedelta(minutes=1)
            await session.commit()


async def _prepared(database_url: str) -> dict[str, str]:
    """Migrate and create one key per scope."""
    await upgrade_to_head_async(database_url)
    engine = create_engine(database_url)
    keys = {}
    async with create_session_factory(engine)() as session:
        for scope in ("read", "trade", "admin"):
            keys[scope], _ = await create_api_key(session, name=scope, scopes=[scope])
        await session.commit()
    await engine.dispose()
    return keys


@asynccontextmanager
async def serve(database_url: str, keys: dict[str, str], **settings: Any) -> AsyncIterator[Api]:
    """The service on a prepared database (`_prepared`), its settings overridden by `settings`, started (its
    lifespan), with an in-process client. Its own simulator's prices move only when a test says so."""
    app = create_app(load_settings(database_url=database_url, _env_file=None, **settings))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.trading.started.wait(), 15)
        if app.state.exchange.simulator is not None:  # None: it uses another's (OKX_REST_URL)
            app.state.exchange.simulator.config.tick_interval_s = 0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield Api(app, client, keys)


@pytest.fixture
async def api(empty_database_url: str) -> AsyncIterator[Api]:
    async with serve(empty_database_url, await _prepared(empty_database_url)) as api:
        yield api


@dataclass
class LiveApi(Api):
    """The same, served by uvicorn on a loopback port: for what needs a real socket (the WebSocket stream)."""

    base_url: str
    database_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/v1/trading/stream"


@pytest.fixture
async def live_api(empty_database_url: str) -> AsyncIterator[LiveApi]:
    keys = await _prepared(empty_database_url)
    app = create_app(load_settings(database_url=empty_database_url, _env_file=None))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        await asyncio.wait_for(app.state.trading.started.wait(), 15)
        app.state.exchange.simulator.config.tick_interval_s = 0
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield LiveApi(app, client, keys, base_url, empty_database_url)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
