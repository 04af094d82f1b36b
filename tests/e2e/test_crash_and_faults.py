"""500 orders through the real trading stack while the exchange misbehaves, with the trading process killed by
SIGKILL halfway and started again: every order exactly once on both sides, fills and positions equal.

Processes: the simulator (faults on: lost answers, 5xx, dropped WebSockets, duplicated and reordered pushes, a
moving market) and `tests/e2e/trading_driver.py` (the trading runtime, tracker and executor on PostgreSQL).
"""

from __future__ import annotations

import os
import select as io_select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.db import create_engine, create_session_factory
from app.migrations import upgrade_to_head_async
from app.models.trading import Order, OrderSide, OrderStatus, Position, Trade
from tests.conftest import fresh_database
from tests.e2e.conftest import simulator_process

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 500
FAULTS = [
    "--lose-response-rate",
    "0.05",
    "--error-rate",
    "0.05",
    "--ws-drop-interval",
    "1.5",
    "--push-duplicate-rate",
    "0.2",
    "--push-reorder-rate",
    "0.2",
]


@pytest.fixture
def simulator_url() -> Iterator[str]:
    with simulator_process("--no-rate-limit", "--tick-interval", "0.2", *FAULTS) as url:
        yield url


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database("postgresql", tmp_path) as url:
        await upgrade_to_head_async(url)
        yield url


def driver(database_url: str, rest_url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.trading_driver",
            "--database-url",
            database_url,
            "--rest-url",
            rest_url,
            "--from",
            "0",
            "--to",
            str(ORDERS),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], wanted: str | int, timeout_s: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = io_select.select([process.stdout], [], [], 0.5)
        if not ready:
            if process.poll() is not None:
                break
            continue
        line = process.stdout.readline().strip()  # type: ignore[union-attr]
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line == str(wanted) or (isinstance(wanted, int) and line.isdigit() and int(line) >= wanted):
            return lines
    raise AssertionError(f"did not see {wanted!r}: last lines {lines[-5:]}; stderr: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]


async def test_500_orders_survive_faults_and_a_sigkill(postgres_url: str, simulator_url: str) -> None:
    first = driver(postgres_url, simulator_url)
    read_until(first, ORDERS // 2, timeout_s=120)
    os.kill(first.pid, signal.SIGKILL)  # mid-run: orders in flight, pushes unapplied
    first.wait(timeout=10)

    second = driver(postgres_url, simulator_url)  # restarts: reconciles what was left, places the rest
    read_until(second, "started", timeout_s=60)
    assert second.wait(timeout=180) == 0, second.stderr.read()  # type: ignore[union-attr]

    async with httpx.AsyncClient(base_url=simulator_url) as control:  # a calm, frozen exchange for the final count
        await control.post(
            "/sim/v1/faults",
            json={
                name: 0
                for name in (
                    "lose_response_rate",
                    "error_rate",
                    "ws_drop_interval_s",
                    "push_duplicate_rate",
                    "push_reorder_rate",
                )
            },
        )
        await control.post("/sim/v1/tick", json={"interval_s": 0})
        settle = driver(postgres_url, simulator_url, "--settle")
        read_until(settle, "settled", timeout_s=120)
        assert settle.wait(timeout=60) == 0
        state = (await control.get("/sim/v1/state")).json()

    engine = create_engine(postgres_url)
    async with create_session_factory(engine)() as session:
        orders = (await session.execute(select(Order))).scalars().all()
        trades = (await session.execute(select(Trade))).scalars().all()
        positions = (await session.execute(select(Position))).scalars().all()
    await engine.dispose()

    by_client_id = {o.client_order_id: o for o in orders}
    exchange = {o["clOrdId"]: o for o in state["orders"]}
    assert len(exchange) == len(state["orders"])  # the exchange never got one order twice
    assert set(exchange) <= set(by_client_id)  # nothing on the exchange is unknown to the database
    # Orders the exchange never received were proven absent (expTime passed) before the driver placed them again.
    never_placed = [o for o in orders if o.client_order_id not in exchange]
    assert all(o.status is OrderStatus.FAILED and o.error_code == "not_found_after_exp_time" for o in never_placed)
    # 500 orders → exactly 500 exchange orders, one per index.
    index_of = {o.client_order_id: int(o.idempotency_key.split("-")[1]) for o in orders}  # type: ignore[union-attr]
    assert sorted(index_of[client_id] for client_id in exchange) == list(range(ORDERS))
    for client_id, remote in exchange.items():
        local = by_client_id[client_id]
        assert local.status.value == remote["state"], (client_id, local.status, remote["state"])
        assert local.filled_size == Decimal(remote["accFillSz"])
    # Fills: the database's are exactly the exchange's.
    remote_fills = {f["tradeId"]: f for o in state["orders"] for f in o["fills"]}
    assert {t.exchange_trade_id for t in trades} == set(remote_fills)
    for trade in trades:
        fill = remote_fills[trade.exchange_trade_id]
        assert (trade.price, trade.size, trade.fee) == (
            Decimal(fill["fillPx"]),
            Decimal(fill["fillSz"]),
            -Decimal(fill["fee"]),
        )
    assert len(trades) > 100  # the market moved through many of the orders
    assert never_placed  # the 5xx fault did leave orders unknown, each settled by proof, not by guess
    # The position is the sum of the fills, less the fees taken in BTC (a buy's, on spot).
    [position] = positions
    signed = sum((t.size if t.side is OrderSide.BUY else -t.size for t in trades), Decimal(0))
    in_kind = sum((t.fee for t in trades if t.fee_currency == "BTC"), Decimal(0))
    assert position.size == signed - in_kind
