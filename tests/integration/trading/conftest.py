"""The trading core against the simulator (real HTTP) and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

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
        instrument = await okx.public.instrument(inst_id)
        base, quote = inst_id.split("-")[:2]
        control.set_instrument(
            InstrumentRules(
                inst_id,
                base,
                quote,
                instrument.tick_sz,
                instrument.lot_sz,
                instrument.min_sz,
                contract_value=instrument.contract_multiplier,
                is_derivative=instrument.inst_type != "SPOT",
                leverage=instrument.lever or Decimal(1),
            )
        )
        control.set_price(inst_id, (await okx.market.get_ticker(inst_id)).last or Decimal(0))
    return control


@pytest.fixture
async def executor(okx: OKXClient, db_session: AsyncSession, risk: ExecutionRiskControl) -> TradeExecutor:
    return TradeExecutor(okx_client=okx, order_manager=OrderManager(db_session), risk_manager=risk)
