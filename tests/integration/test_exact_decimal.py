"""Money round-trips exactly, value and scale, on SQLite and PostgreSQL (DESIGN.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Order, Position
from app.models.trading import OrderSide, OrderType

EXACT_VALUES = [
    "0.1",
    "0.00000001",
    "123456789.123456789012345678",
    "-0.1",
    "-0.00000001",
    "-123456789.123456789012345678",
    "0",
    "0.10",  # scale is kept, not only the value
    "50000",  # never comes back as 5E+4
    "1E-18",
    "99999999999999999999.999999999999999999",
]


async def _reload_position(session: AsyncSession, position_id: int) -> Position:
    session.expunge_all()  # forget the objects: the next read comes from the database
    return (await session.execute(select(Position).where(Position.id == position_id))).scalar_one()


@pytest.mark.parametrize("literal", EXACT_VALUES)
async def test_decimal_round_trips_exactly(db_session: AsyncSession, literal: str) -> None:
    value = Decimal(literal)
    position = Position(instrument_id=f"RT-{literal}", size=value, realized_pnl=value, average_entry_price=value)
    db_session.add(position)
    await db_session.commit()

    loaded = await _reload_position(db_session, position.id)

    for column_value in (loaded.size, loaded.realized_pnl, loaded.average_entry_price):
        assert isinstance(column_value, Decimal)
        assert column_value == value
        assert str(column_value) == str(value) or value.is_zero()  # same scale: "0.10" stays "0.10"


@pytest.mark.postgres_only
async def test_numerics_cross_the_wire_as_text_exactly_on_both_postgresql_paths(database_url: str) -> None:
    """The engine's connections and the direct lane's send and read NUMERIC as text (`numerics_as_text`): every
    value comes back equal, with PostgreSQL's scale. (asyncpg's binary codec returns 50000 as 5E+4, which
    `ExactDecimal` then had to undo; text reads it as PostgreSQL prints it.)"""
    from sqlalchemy import make_url

    from app.db import create_engine
    from app.db_direct import numerics_as_text

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    as_text, as_binary = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    engine = create_engine(database_url)
    try:
        await numerics_as_text(as_text)
        for literal in EXACT_VALUES:
            value = Decimal(literal)
            sent = await as_text.fetchval("SELECT $1::numeric", value)
            binary = await as_binary.fetchval("SELECT $1::numeric", value)
            assert sent == binary == value
            assert sent.as_tuple().exponent == _scale(value)
            async with engine.connect() as connection:  # the engine's connections do the same
                raw = (await connection.get_raw_connection()).driver_connection
                assert await raw.fetchval("SELECT $1::numeric", value) == sent
                assert (await raw.fetchval(f"SELECT '{literal}'::numeric")).as_tuple() == sent.as_tuple()
    finally:
        await as_text.close()
        await as_binary.close()
        await engine.dispose()


def _scale(value: Decimal) -> int:
    """The exponent PostgreSQL keeps: its scale, never positive (50000 is stored with scale 0, not as 5E+4)."""
    return min(int(value.as_tuple().exponent), 0)


async def test_sqlite_stores_fixed_point_text_and_postgres_numeric(db_session: AsyncSession, backend: str) -> None:
    db_session.add(Position(instrument_id="RAW", size=Decimal("1E-8"), realized_pnl=Decimal("-0.1")))
    await db_session.commit()

    row = (await db_session.execute(text("SELECT size, realized_pnl FROM positions WHERE instrument_id = 'RAW'"))).one()

    if backend == "sqlite":
        assert row == ("0.00000001", "-0.1")  # text, never a REAL that would round
    else:
        assert row == (Decimal("0.00000001"), Decimal("-0.1"))


async def test_order_money_columns_are_exact(db_session: AsyncSession) -> None:
    order = Order(
        client_order_id="rt1",
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.00000001"),
        price=Decimal("123456789.123456789012345678"),
    )
    db_session.add(order)
    await db_session.commit()
    db_session.expunge_all()

    loaded = (await db_session.execute(select(Order).where(Order.client_order_id == "rt1"))).scalar_one()

    assert loaded.size == Decimal("0.00000001")
    assert loaded.price == Decimal("123456789.123456789012345678")
    assert loaded.filled_size == Decimal(0)


@pytest.mark.parametrize("bad", [0.1, float("nan")])
async def test_float_is_refused(db_session: AsyncSession, bad: float) -> None:
    db_session.add(Position(instrument_id="FLOAT", size=bad))
    with pytest.raises(StatementError) as raised:
        await db_session.flush()
    assert isinstance(raised.value.orig, TypeError)
    await db_session.rollback()


async def test_non_finite_decimal_is_refused(db_session: AsyncSession) -> None:
    db_session.add(Position(instrument_id="NAN", size=Decimal("NaN")))
    with pytest.raises(StatementError) as raised:
        await db_session.flush()
    assert isinstance(raised.value.orig, ValueError)
    await db_session.rollback()


async def test_timestamps_are_utc_aware_on_both_backends(db_session: AsyncSession) -> None:
    moment = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    position = Position(instrument_id="TS", opened_at=moment)
    db_session.add(position)
    await db_session.commit()

    loaded = await _reload_position(db_session, position.id)

    assert loaded.opened_at == moment
    assert loaded.opened_at.tzinfo == UTC
    assert loaded.opened_at.hour == 7


async def test_naive_timestamp_is_refused(db_session: AsyncSession) -> None:
    db_session.add(Position(instrument_id="NAIVE", opened_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError):
        await db_session.flush()
    await db_session.rollback()
