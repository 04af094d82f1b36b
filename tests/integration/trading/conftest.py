"""The trading core against the simulator (real HTTP) and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import create_engine, create_session_factory
from app.db_direct import DirectLane
from app.migrations import upgrade_to_head_async
from app.services.okx.client import OKXClient
from app.services.okx.simulator import OKXSimulator
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager
from app.services.trading.risk import ExecutionRiskControl, InstrumentRules
from tests.integration.okx.conftest import client_for, sim_config


@pytest.fixture
async def sim() -> AsyncIterator[OKXSimulator]:
    async with OKXSimulator(sim_config()) as simulator:
        yield simulator


@pytest.fixture
async def okx(sim: OKXSimulator) -> AsyncIterator[OKXClient]:
    async with client_for(sim) as client:
        yield client


@pytest.fixture
async def risk(okx: OKXClient) -> ExecutionRiskControl:
    control = ExecutionRiskControl({"max_order_value": Decimal("1000000"), "max_order_size": Decimal("100")})
    for inst_id in ("BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"):
        control.set_instrument(InstrumentRules.from_okx(await okx.public.instrument(inst_id)))
        control.set_price(inst_id, (await okx.market.get_ticker(inst_id)).last or Decimal(0))
    return control


@pytest.fixture
async def executor(okx: OKXClient, db_session: AsyncSession, risk: ExecutionRiskControl) -> TradeExecutor:
    return TradeExecutor(okx_client=okx, order_manager=OrderManager(db_session), risk_manager=risk)


@pytest.fixture
async def factory(empty_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A database of its own: the tracker commits in sessions of its own, as in the service (on PostgreSQL with the
    direct lane, as in the service)."""
    await upgrade_to_head_async(empty_database_url)
    engine: AsyncEngine = create_engine(empty_database_url)
    direct = await DirectLane.open(engine, size=5, timeout_s=5) if engine.dialect.name == "postgresql" else None
    yield create_session_factory(engine, direct=direct)
    if direct is not None:
        await direct.close()
    await engine.dispose()


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
