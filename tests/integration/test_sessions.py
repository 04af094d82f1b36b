"""The service's sessions (`app.db.ServiceSession`): closing one that holds no transaction is done in place, and
one that holds a transaction still gives its connection back with its work rolled back."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import ServiceSession, create_session_factory
from app.models.trading import Position, PositionSide


async def test_a_session_that_never_began_closes_without_touching_the_pool(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    checked_out = engine.sync_engine.pool.checkedout()
    async with factory() as session:
        assert isinstance(session, ServiceSession)
        assert not session.in_transaction()
    assert engine.sync_engine.pool.checkedout() == checked_out
    # Closed: usable again, as any closed session is (it begins a new transaction when asked).
    assert (await session.execute(select(func.count()).select_from(Position))).scalar_one() >= 0
    await session.close()
    assert engine.sync_engine.pool.checkedout() == checked_out


async def test_a_session_left_in_a_transaction_rolls_back_and_gives_its_connection_back(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    checked_out = engine.sync_engine.pool.checkedout()
    instrument = "SESSION-CLOSE-TEST"
    async with factory() as session:
        session.add(Position(instrument_id=instrument, position_side=PositionSide.NET, size=Decimal(1)))
        await session.flush()
        assert session.in_transaction()
        assert engine.sync_engine.pool.checkedout() == checked_out + 1
    assert engine.sync_engine.pool.checkedout() == checked_out
    async with factory() as session:
        stored = await session.execute(select(Position).where(Position.instrument_id == instrument))
        assert stored.first() is None  # never committed: rolled back by the close
