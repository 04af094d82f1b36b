"""The service in-process (lifespan, in-process simulator) on a database of its own, with API keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from app.config import load_settings
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.migrations import upgrade_to_head_async
from app.services.auth import create_api_key


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    keys: dict[str, str]

    def as_(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


@pytest.fixture
async def api(empty_database_url: str) -> AsyncIterator[Api]:
    await upgrade_to_head_async(empty_database_url)
    engine = create_engine(empty_database_url)
    keys = {}
    async with create_session_factory(engine)() as session:
        for scope in ("read", "trade", "admin"):
            keys[scope], _ = await create_api_key(session, name=scope, scopes=[scope])
        await session.commit()
    await engine.dispose()
    app = create_app(load_settings(database_url=empty_database_url, _env_file=None))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.trading.started.wait(), 15)
        app.state.exchange.simulator.config.tick_interval_s = 0  # prices move only when a test says so
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield Api(app, client, keys)
