"""Two service replicas on one PostgreSQL, the simulator in a third process: orders through both, exactly one runs
the order tracker; SIGKILL the leader and the other takes over within 5 s; no fill lost, none stored twice."""

from __future__ import annotations

import asyncio
import os
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
from app.models.trading import Order, OrderStatus, Position, Trade
from app.services.auth import create_api_key
from tests.conftest import fresh_database
from tests.e2e.conftest import ROOT, free_port, simulator_process

SIGNAL = {"instrument_id": "BTC-USDT", "side": "buy", "size": "0.001", "strategy_id": "r"}


@pytest.fixture
def simulator_url() -> Iterator[str]:
    with simulator_process("--tick-interval", "0") as url:
        yield url


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A fresh PostgreSQL database, migrated, and a trade key."""
    async with fresh_database("postgresql", tmp_path) as url:
        await upgrade_to_head_async(url)
        engine = create_engine(url)
        async with create_session_factory(engine)() as session:
            key, _ = await create_api_key(session, name="replicas", scopes=["trade"])
            await session.commit()
        await engine.dispose()
        yield url, key


def _replica(database_url: str, okx_url: str, workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OKX_", "DATABASE_", "RISK_"))},
        "ENVIRONMENT": "sim",
        "DATABASE_URL": database_url,
        "OKX_REST_URL": okx_url,
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    log = (workdir / f"{name}.log").open("wb")
    command = [sys.executable, "-m", "app", "serve"]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
    return process, f"http://127.0.0.1:{port}"


async def _roles(client: httpx.AsyncClient, urls: list[str]) -> list[str | None]:
    roles: list[str | None] = []
    for url in urls:
        try:
            answer = await client.get(f"{url}/ready", timeout=2)
            roles.append(answer.json().get("role") if answer.status_code == 200 else None)
        except httpx.TransportError:
            roles.append(None)
    return roles


async def _until(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_two_replicas_one_tracker_and_a_takeover_within_5_s(
    simulator_url: str, database: tuple[str, str], tmp_path: Path
) -> None:
    database_url, key = database
    replicas = [_replica(database_url, simulator_url, tmp_path, name) for name in ("a", "b")]
    urls = [url for _, url in replicas]
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(headers=headers, timeout=10) as client:
            await _until(lambda: _all_ready(client, urls), 60, "both replicas ready")
            roles = await _roles(client, urls)
            assert sorted(roles) == ["leader", "standby"], roles  # exactly one runs the tracker

            placed = []
            for n in range(20):  # through both replicas
                answer = await client.post(f"{urls[n % 2]}/api/v1/trading/signals", json=SIGNAL)
                assert answer.status_code == 201, answer.text
                placed.append(answer.json()["id"])

            twap = {"algorithm": "twap", "config": {"duration": 10, "num_slices": 2}, "instrument_id": "BTC-USDT",
                    "side": "buy", "size": "0.002"}  # fmt: skip
            refused = await client.post(f"{urls[roles.index('standby')]}/api/v1/trading/executions", json=twap)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_leader", refused.text

            leader = roles.index("leader")
            survivor = 1 - leader
            # The standby placed half of them and follows none: they are the leader's (a standby's tracker held
            # them until 2026-12-06, to reconcile them one by one by REST when it took the lead).
            standby_tracker = (await client.get(f"{urls[survivor]}/api/v1/trading/tracker")).json()
            assert standby_tracker["role"] == "standby" and standby_tracker["orders_tracked"] == 0, standby_tracker
            replicas[leader][0].send_signal(signal.SIGKILL)
            replicas[leader][0].wait(timeout=10)
            for _ in range(5):  # at once, before the takeover: filled while no tracker listens
                answer = await client.post(f"{urls[survivor]}/api/v1/trading/signals", json=SIGNAL)
                assert answer.status_code == 201, answer.text
                placed.append(answer.json()["id"])
            took = await _until(
                lambda: _is_leader(client, urls[survivor]), 5.0, "the standby taking over after the leader's SIGKILL"
            )
            for _ in range(10):  # the survivor carries on
                answer = await client.post(f"{urls[survivor]}/api/v1/trading/signals", json=SIGNAL)
                assert answer.status_code == 201, answer.text
                placed.append(answer.json()["id"])

            await _until(lambda: _all_filled(database_url, placed), 30, "every order filled in the database")
            sim_fills = await _simulator_fills(client, simulator_url)
        stored = await _stored(database_url)
    finally:
        for process, _ in replicas:
            if process.poll() is None:
                process.terminate()
        for process, _ in replicas:
            process.wait(timeout=30)

    trades, position_size = stored
    assert took < 5.0
    assert sorted(t for t, _ in trades) == sorted(sim_fills)  # every fill once: none lost, none twice
    assert sum((size for _, size in trades), Decimal(0)) == Decimal("0.035")  # 35 orders of 0.001
    assert position_size == Decimal("0.035") - 35 * Decimal("0.000001")  # less each buy's 0.1 % fee, taken in BTC


async def _all_ready(client: httpx.AsyncClient, urls: list[str]) -> bool:
    for url in urls:
        try:
            if (await client.get(f"{url}/ready", timeout=2)).status_code != 200:
                return False
        except httpx.TransportError:
            return False
    roles = await _roles(client, urls)
    return "leader" in roles


async def _is_leader(client: httpx.AsyncClient, url: str) -> bool:
    return (await _roles(client, [url]))[0] == "leader"


async def _all_filled(database_url: str, order_ids: list[int]) -> bool:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            statuses = (await session.execute(select(Order.status).where(Order.id.in_(order_ids)))).scalars().all()
        return len(statuses) == len(order_ids) and all(s is OrderStatus.FILLED for s in statuses)
    finally:
        await engine.dispose()


async def _simulator_fills(client: httpx.AsyncClient, simulator_url: str) -> list[str]:
    state = (await client.get(f"{simulator_url}/sim/v1/state")).json()
    return [fill["tradeId"] for order in state["orders"] for fill in order["fills"]]


async def _stored(database_url: str) -> tuple[list[tuple[str, Decimal]], Decimal]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            trades = [tuple(row) for row in await session.execute(select(Trade.exchange_trade_id, Trade.size))]
            position = (
                await session.execute(select(Position.size).where(Position.instrument_id == "BTC-USDT"))
            ).scalar_one()
        return trades, position  # type: ignore[return-value]
    finally:
        await engine.dispose()
