"""Alembic owns the schema: empty → head works on both backends and matches the models exactly."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from app.db import create_engine
from app.migrations import alembic_config, upgrade_to_head_async
from app.models import Base, Trade, TradeDailySummary


def _schema_diff(connection) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    """Fails when a model changes without a migration (or a migration without the model)."""
    async with engine.connect() as connection:
        diff = await connection.run_sync(_schema_diff)
    assert diff == []


async def test_upgrade_downgrade_upgrade_from_empty(empty_database_url: str) -> None:
    await upgrade_to_head_async(empty_database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(empty_database_url), "base")

    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables <= {"alembic_version"}

        await upgrade_to_head_async(empty_database_url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            diff = await connection.run_sync(_schema_diff)
        assert set(Base.metadata.tables) <= tables
        assert diff == []
    finally:
        await engine.dispose()


async def test_trade_daily_summaries_are_filled_from_existing_trades(empty_database_url: str) -> None:
    """0002 gives old trades their instrument's multiplier and sums them into the daily summaries."""
    await asyncio.to_thread(command.upgrade, alembic_config(empty_database_url), "0001_initial_schema")
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            now = "'2026-11-01 00:00:00'"
            await connection.execute(
                text(
                    "INSERT INTO positions (id, instrument_id, position_side, instrument_type, trade_mode, size, "
                    "contract_multiplier, unrealized_pnl, realized_pnl, created_at, updated_at) VALUES "
                    f"(1, 'BTC-USDT-SWAP', 'net', 'SWAP', 'cross', '0', '0.01', '0', '0', {now}, {now})"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO orders (id, client_order_id, instrument_id, instrument_type, side, order_type, "
                    "trade_mode, reduce_only, size, filled_size, status, is_external, created_at, updated_at) "
                    f"VALUES (1, 'm1', 'BTC-USDT-SWAP', 'SWAP', 'buy', 'market', 'cross', false, '3', '3', 'filled', "
                    f"false, {now}, {now})"
                )
            )
            for n, (pnl, closed, fee, at) in enumerate(
                [
                    ("-0.5", "0", "0.5", "2026-11-01 10:00:00"),
                    ("20.25", "1", "0.25", "2026-11-01 23:59:59"),
                    ("-7", "1", "1", "2026-11-02 00:00:00"),
                ]
            ):
                await connection.execute(
                    text(
                        "INSERT INTO trades (order_id, exchange_trade_id, instrument_id, side, price, size, fee, "
                        "fee_currency, realized_pnl, closed_size, strategy_id, executed_at, created_at) VALUES "
                        f"(1, 't{n}', 'BTC-USDT-SWAP', 'buy', '50000', '1', '{fee}', 'USDT', '{pnl}', '{closed}', "
                        f"NULL, '{at}', '{at}')"
                    )
                )

        await upgrade_to_head_async(empty_database_url)

        async with engine.connect() as connection:
            multipliers = (await connection.execute(select(Trade.contract_multiplier))).scalars().all()
            rows = (
                await connection.execute(
                    select(
                        TradeDailySummary.day,
                        TradeDailySummary.strategy_id,
                        TradeDailySummary.trades,
                        TradeDailySummary.closing_trades,
                        TradeDailySummary.wins,
                        TradeDailySummary.losses,
                        TradeDailySummary.realized_pnl,
                        TradeDailySummary.best_closing_pnl,
                        TradeDailySummary.worst_closing_pnl,
                        TradeDailySummary.fees,
                        TradeDailySummary.volume,
                    ).order_by(TradeDailySummary.day)
                )
            ).all()
        assert multipliers == [Decimal("0.01")] * 3
        assert [tuple(row) for row in rows] == [
            (date(2026, 11, 1), "", 2, 1, 1, 0, Decimal("19.75"), Decimal("20.25"), Decimal("20.25"), Decimal("0.75"),
             Decimal("1000")),
            (date(2026, 11, 2), "", 1, 1, 0, 1, Decimal("-7"), Decimal("-7"), Decimal("-7"), Decimal("1"),
             Decimal("500")),
        ]  # fmt: skip
    finally:
        await engine.dispose()


SPARSE_INDEXES = {  # indexed only where set: a NULL is never looked up (0004)
    "uq_orders_exchange_order_id": "exchange_order_id",
    "uq_orders_idempotency_key": "idempotency_key",
    "ix_orders_execution_id": "execution_id",
    "ix_execution_events_execution_id": "execution_id",
}


async def test_sparse_columns_are_indexed_only_where_set_and_events_have_no_foreign_keys(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = await connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
                {"names": list(SPARSE_INDEXES)},
            )
        else:
            rows = await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN (:a, :b, :c, :d)"),
                dict(zip("abcd", SPARSE_INDEXES, strict=True)),
            )
        definitions = {name: definition for name, definition in rows}
        foreign_keys = await connection.run_sync(lambda sync: inspect(sync).get_foreign_keys("execution_events"))
    assert set(definitions) == set(SPARSE_INDEXES)
    for name, column in SPARSE_INDEXES.items():
        assert f"WHERE {column} IS NOT NULL" in definitions[name].replace("(", "").replace(")", ""), definitions[name]
    assert foreign_keys == []
