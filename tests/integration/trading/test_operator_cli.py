"""The operator's CLI (`python -m app.cli orders | positions | cancel-all | kill-switch | reconcile`), each command run
as a subprocess against a real database and the simulator over its real sockets (running in this test's loop)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    InstrumentType,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    TradeMode,
)
from app.services.okx.client import OKXClient
from app.services.okx.simulator import OKXSimulator
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.risk import ExecutionRiskControl

D = Decimal
SWAP = "BTC-USDT-SWAP"
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(empty_database_url: str, sim: OKXSimulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    environment = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    environment |= {"DATABASE_URL": empty_database_url, "OKX_REST_URL": sim.rest_url, "PYTHONPATH": str(ROOT)}

    async def run(*args: str, **overrides: str) -> Ran:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            *args,
            cwd=tmp_path,
            env={k: v for k, v in (environment | overrides).items() if v is not None},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())

    return run


async def _place(okx: OKXClient, factory: async_sessionmaker[AsyncSession], params: OrderParams) -> Order:
    async with factory() as session:
        executor = TradeExecutor(okx, OrderManager(session), ExecutionRiskControl())
        order = await executor.place_order(params, strategy_id="ops")
        return await executor.reconcile_order(order)


def _resting(inst: str, price: str) -> OrderParams:
    return OrderParams(inst, OrderSide.BUY, OrderType.LIMIT, D("0.01"), D(price))


async def _long_one_contract(okx: OKXClient, factory: async_sessionmaker[AsyncSession]) -> None:
    params = OrderParams(
        SWAP,
        OrderSide.BUY,
        OrderType.MARKET,
        D("1"),
        trade_mode=TradeMode.CROSS,
        instrument_type=InstrumentType.SWAP,
    )
    assert (await _place(okx, factory, params)).status is OrderStatus.FILLED


async def _status(factory: async_sessionmaker[AsyncSession], order_id: int) -> OrderStatus:
    async with factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order.status


def _table(out: str) -> list[list[str]]:
    """The rows of the first table in `out` (header and rule dropped), split on runs of spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or line[0].isupper() and line.endswith((".", ":")):
            break
        rows.append(line.split())
    return rows


async def test_orders_and_positions_are_listed(cli, okx: OKXClient, sim: OKXSimulator, factory) -> None:  # type: ignore[no-untyped-def]
    empty = await cli("orders")
    assert (empty.code, empty.out) == (0, "No open orders.\n")
    assert (await cli("positions")).out == "No open positions.\n"

    resting = await _place(okx, factory, _resting("BTC-USDT", "45000"))
    await _long_one_contract(okx, factory)

    orders = await cli("orders")
    assert orders.code == 0, orders.err
    header = orders.out.splitlines()[0].split("  ")
    assert [h.strip() for h in header if h.strip()][:4] == ["ID", "CLIENT ORDER ID", "EXCHANGE ORDER ID", "INSTRUMENT"]
    [row] = _table(orders.out)
    assert row[:10] == [
        str(resting.id),
        resting.client_order_id,
        resting.exchange_order_id,
        "BTC-USDT",
        "buy",
        "limit",
        "45000",
        "0.01",
        "0",
        "live",
    ]
    assert row[10] == "ops"

    positions = await cli("positions")
    assert positions.code == 0, positions.err
    [position] = _table(positions.out)
    assert position[:3] == [SWAP, "net", "1"]
    average = D(position[3])
    assert average == D(sim.exchange.state()["positions"][0]["avgPx"])


async def test_cancel_all_of_one_instrument(cli, okx: OKXClient, sim: OKXSimulator, factory) -> None:  # type: ignore[no-untyped-def]
    btc = await _place(okx, factory, _resting("BTC-USDT", "45000"))
    eth = await _place(okx, factory, _resting("ETH-USDT", "2000"))

    canceled = await cli("cancel-all", "--instrument", "ETH-USDT")

    assert canceled.code == 0, canceled.err
    [row] = _table(canceled.out)
    assert row[0] == str(eth.id) and row[-1] == "canceled"
    assert "Canceled 1 of 1 open orders." in canceled.out
    assert await _status(factory, eth.id) is OrderStatus.CANCELED
    assert await _status(factory, btc.id) is OrderStatus.LIVE
    on_exchange = {o["clOrdId"]: o["state"] for o in sim.exchange.state()["orders"]}
    assert on_exchange[eth.client_order_id] == "canceled" and on_exchange[btc.client_order_id] == "live"
    assert (await cli("cancel-all", "--instrument", "ETH-USDT")).out == "No open orders to cancel.\n"


async def test_kill_switch_halts_cancels_and_resumes(cli, okx: OKXClient, factory) -> None:  # type: ignore[no-untyped-def]
    resting = await _place(okx, factory, _resting("BTC-USDT", "45000"))
    assert (await cli("kill-switch", "status")).out == "Trading is active (the kill switch was never used).\n"

    halted = await cli("kill-switch", "on", "--reason", "drill")

    assert halted.code == 0, halted.err
    assert halted.out.startswith("Trading is halted (was active)")
    assert "Canceled 1 of 1 open orders." in halted.out
    assert await _status(factory, resting.id) is OrderStatus.CANCELED
    status = await cli("kill-switch", "status")
    assert status.out.startswith("Trading is halted since ") and status.out.endswith("(set by cli: drill).\n")

    resumed = await cli("kill-switch", "off")
    assert resumed.code == 0 and resumed.out.startswith("Trading is active (was halted)")
    async with factory() as session:
        changes = (
            (
                await session.execute(
                    select(ExecutionEvent.data)
                    .where(ExecutionEvent.event_type == ExecutionEventType.KILL_SWITCH_CHANGED)
                    .order_by(ExecutionEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(c["from"], c["to"], c["source"]) for c in changes] == [
        ("active", "halted", "cli"),
        ("halted", "active", "cli"),
    ]


async def test_reconcile_dry_run_then_for_real(cli, okx: OKXClient, sim: OKXSimulator, factory) -> None:  # type: ignore[no-untyped-def]
    await _long_one_contract(okx, factory)
    resting = await _place(okx, factory, _resting("BTC-USDT", "45000"))
    # Behind the service's back: the position grows, and the resting order is canceled on the exchange.
    sim.exchange.positions[SWAP].pos = D("3")
    sim.exchange.cancel("BTC-USDT", resting.exchange_order_id, None, sim.now_ms())

    dry = await cli("reconcile", "--dry-run")

    assert dry.code == 0, dry.err
    assert "Dry run: 2 difference(s) found; nothing was changed." in dry.out
    orders_part, positions_part = dry.out.split("Positions:")
    [order_row] = _table(orders_part)
    assert order_row == [str(resting.id), resting.exchange_order_id, "BTC-USDT", "live", "not", "open"]
    # (the first sync also fills in margin and leverage, which only the exchange knows)
    assert [SWAP, "net", "size", "1", "3"] in _table(positions_part)
    assert await _status(factory, resting.id) is OrderStatus.LIVE
    async with factory() as session:
        position = (await session.execute(select(Position).where(Position.instrument_id == SWAP))).scalar_one()
        assert position.size == D("1")

    real = await cli("reconcile")

    assert real.code == 0, real.err
    assert "2 difference(s) found and corrected" in real.out
    [order_row] = _table(real.out.split("Positions:")[0])
    assert order_row[-3:] == ["canceled,", "filled", "0"]
    assert await _status(factory, resting.id) is OrderStatus.CANCELED
    async with factory() as session:
        position = (await session.execute(select(Position).where(Position.instrument_id == SWAP))).scalar_one()
        synced = (
            await session.execute(
                select(ExecutionEvent).where(ExecutionEvent.event_type == ExecutionEventType.POSITION_SYNCED)
            )
        ).scalar_one()
    assert position.size == D("3")
    assert synced.data["size"] == {"local": "1", "exchange": "3"}
    assert (await cli("reconcile")).out == "No differences: the database agrees with the exchange.\n"


@pytest.mark.postgres_only  # (nothing here depends on the database's kind)
async def test_failures_exit_non_zero_with_one_sentence(cli) -> None:  # type: ignore[no-untyped-def]
    embedded = await cli("cancel-all", OKX_REST_URL=None)  # type: ignore[arg-type]
    assert embedded.code == 1 and embedded.out == ""
    assert embedded.err.startswith("The exchange named by the settings is the simulator inside the running service")
    assert embedded.err.count("\n") == 1

    unreachable = await cli("reconcile", OKX_REST_URL="http://127.0.0.1:9")
    assert unreachable.code == 1
    assert unreachable.err.splitlines()[-1].startswith("The exchange request failed: ")

    no_database = await cli("orders", DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:9/none")
    assert no_database.code == 1
    assert no_database.err.startswith("The database could not be used: ") and no_database.err.count("\n") == 1

    usage = await cli("kill-switch", "maybe")
    assert usage.code == 2 and "invalid choice: 'maybe'" in usage.err
