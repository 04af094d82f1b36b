"""A PostgreSQL that refuses connections while it starts up, shuts down or has no slot left answers with SQLSTATE
classes 57 and 53, which asyncpg and SQLAlchemy's asyncpg dialect leave a plain database error: both of the
service's ways to the database (the session's engine and the direct lane) make it `OperationalError`, the API's
503 `database_unavailable`, never a 500. Under load across a restart five requests were answered 500, one for an
order the exchange had accepted, whose client was never told (`benchmarks/load.py`, 2026-12-06)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.db import create_engine, create_session_factory
from app.db_direct import DirectLane
from app.models.trading import OrderSide, OrderType
from app.services.trading.order_manager import OrderManager, OrderParams
from tests.refusing_postgres import RefusingPostgres

REFUSALS = [
    ("57P03", "the database system is starting up"),
    ("57P03", "the database system is shutting down"),
    ("53300", "sorry, too many clients already"),
]


@pytest.mark.parametrize(("sqlstate", "message"), REFUSALS)
async def test_a_refusing_server_is_unavailable_to_the_session_and_to_the_direct_lane(
    sqlstate: str, message: str
) -> None:
    async with RefusingPostgres(sqlstate, message) as server:
        engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/test")
        lane = await DirectLane.open(engine, size=1, timeout_s=2)
        try:
            async with create_session_factory(engine)() as session:
                with pytest.raises(sa_exc.OperationalError, match=message):
                    await session.execute(text("SELECT 1"))
            async with create_session_factory(engine, direct=lane)() as session:
                limit = OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, Decimal("0.1"), Decimal("49000"))
                with pytest.raises(sa_exc.OperationalError, match=message):  # the write-ahead, on the lane
                    await OrderManager(session).create_order(limit, commit=True)
        finally:
            await lane.close()
            await engine.dispose()
