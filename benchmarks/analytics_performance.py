"""`GET /performance` over a million trades in three years (target: p50 below 500 ms), on PostgreSQL.

Seeds a fresh database (`bench_analytics` by default: it is dropped and created) with 1,000,000 trades over three
years, three instruments and five strategies, in SQL (the write path's own speed is not what is measured here), then
builds the daily summaries the way an operator would after a bulk load (`daily_summary.rebuild`). It starts the
service (`python -m app`, uvicorn, in-process simulator) on that database and times, over real HTTP:

- the whole three years, midnight to midnight (only the daily summaries are read);
- the same span starting and ending mid-day (the two partial days are read from the trades);
- one strategy and one instrument over the same span;
- `GET /statistics` over the last 30 days.

Beside them, the same three years summed straight from the `trades` table by one GROUP BY per day, which is what
the summaries replace. The service's answer is cross-checked against plain SQL sums over `trades`.

Run: `.venv/bin/python benchmarks/analytics_performance.py [--trades N] [--requests R]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from _database import recreate_database

from app.db import create_engine, create_session_factory
from app.services.trading import daily_summary

ROOT = Path(__file__).resolve().parent.parent
FIRST_DAY = "2023-11-26"
SEED_SQL = """
SELECT setseed(0.42);
INSERT INTO positions (instrument_id, position_side, instrument_type, trade_mode, size, contract_multiplier,
                       unrealized_pnl, realized_pnl, created_at, updated_at)
VALUES ('BTC-USDT', 'net', 'SPOT', 'cash', 0, 1, 0, 0, now(), now()),
       ('ETH-USDT', 'net', 'SPOT', 'cash', 0, 1, 0, 0, now(), now()),
       ('BTC-USDT-SWAP', 'net', 'SWAP', 'cross', 0, 0.01, 0, 0, now(), now());
INSERT INTO orders (id, client_order_id, instrument_id, instrument_type, side, order_type, trade_mode, reduce_only,
                    size, filled_size, status, is_external, strategy_id, created_at, updated_at)
SELECT g, 'b' || g, (ARRAY['BTC-USDT', 'ETH-USDT', 'BTC-USDT-SWAP'])[1 + g % 3],
       CASE WHEN g % 3 = 2 THEN 'SWAP' ELSE 'SPOT' END, CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'market',
       CASE WHEN g % 3 = 2 THEN 'cross' ELSE 'cash' END, false, 1, 1, 'filled', false, 'strategy-' || (g % 5),
       $1::timestamptz + (g * 4 - 4) * $2::interval, now()
FROM generate_series(1, $3::int / 4) g;
INSERT INTO trades (order_id, exchange_trade_id, instrument_id, side, price, size, contract_multiplier, fee,
                    fee_currency, liquidity, realized_pnl, closed_size, strategy_id, executed_at, created_at)
SELECT o, 't' || g, (ARRAY['BTC-USDT', 'ETH-USDT', 'BTC-USDT-SWAP'])[1 + o % 3],
       CASE WHEN o % 2 = 0 THEN 'buy' ELSE 'sell' END, round((30000 + random() * 40000)::numeric, 1),
       round((0.001 + random())::numeric, 6), CASE WHEN o % 3 = 2 THEN 0.01 ELSE 1 END,
       round((random() * 2)::numeric, 8), CASE WHEN g % 10 = 0 THEN 'BTC' ELSE 'USDT' END,
       CASE WHEN g % 3 = 0 THEN 'maker' ELSE 'taker' END,
       CASE WHEN g % 2 = 1 THEN round(((random() - 0.48) * 200)::numeric, 8) ELSE -round((random() * 2)::numeric, 8)
       END,
       CASE WHEN g % 2 = 1 THEN round((0.001 + random())::numeric, 6) ELSE 0 END, 'strategy-' || (o % 5),
       $1::timestamptz + (g - 1) * $2::interval, now()
FROM (SELECT g, 1 + (g - 1) / 4 AS o FROM generate_series(1, $3::int) g) s;
"""


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _prepare(database_url: str, trades: int) -> None:
    await recreate_database(database_url)
    started = time.perf_counter()
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        spacing = timedelta(seconds=3 * 365 * 86400 / trades)
        first = datetime.fromisoformat(f"{FIRST_DAY}T00:00:00+00:00")
        async with connection.transaction():
            for statement in SEED_SQL.split(";\n"):
                if statement.strip():
                    args = (first, spacing, trades) if "$1" in statement else ()
                    await connection.execute(statement, *args)
        seeded = time.perf_counter()
        engine = create_engine(database_url)
        async with create_session_factory(engine)() as session:
            rows = await daily_summary.rebuild(session)
            await session.commit()
        await engine.dispose()
        await connection.execute("VACUUM ANALYZE")
        print(
            f"seeded {trades:,} trades in {seeded - started:.0f} s; daily summaries rebuilt ({rows:,} rows) in "
            f"{time.perf_counter() - seeded:.1f} s"
        )
    finally:
        await connection.close()


async def _direct_group_by(database_url: str, start: datetime, end: datetime, rounds: int) -> list[float]:
    """The three years summed per day straight from `trades`: what the summaries replace."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        timings = []
        for _ in range(rounds):
            began = time.perf_counter()
            await connection.fetch(
                "SELECT (executed_at AT TIME ZONE 'UTC')::date, coalesce(fee_currency, ''), count(*), "
                "count(*) FILTER (WHERE closed_size > 0), sum(realized_pnl), max(realized_pnl), sum(fee), "
                "sum(price * size * contract_multiplier) FROM trades "
                "WHERE executed_at >= $1::timestamptz AND executed_at < $2::timestamptz GROUP BY 1, 2",
                start,
                end,
            )
            timings.append(time.perf_counter() - began)
        return timings
    finally:
        await connection.close()


async def _reference_sums(database_url: str, start: datetime, end: datetime) -> tuple[int, Decimal, Decimal]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await connection.fetchrow(
            "SELECT count(*), sum(realized_pnl), sum(price * size * contract_multiplier) FROM trades "
            "WHERE executed_at >= $1::timestamptz AND executed_at < $2::timestamptz",
            start,
            end,
        )
        return row[0], row[1], row[2]
    finally:
        await connection.close()


def _time(client: httpx.Client, path: str, params: dict[str, str], requests: int) -> tuple[list[float], dict]:
    client.get(path, params=params).raise_for_status()  # warm: connection, plans, caches
    timings = []
    body: dict = {}
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path, params=params)
        timings.append(time.perf_counter() - began)
        response.raise_for_status()
        body = response.json()
    return timings, body


def _line(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"  {label:<52} p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_analytics")
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=25)
    args = parser.parse_args()
    url = args.database_url

    asyncio.run(_prepare(url, args.trades))
    start, end = f"{FIRST_DAY}T00:00:00Z", "2026-11-25T00:00:00Z"
    ragged_start, ragged_end = f"{FIRST_DAY}T13:37:00Z", "2026-11-24T15:05:00Z"

    workdir = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    environment = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "sim", "LOG_LEVEL": "WARNING"}
    key = subprocess.run(
        [sys.executable, "-m", "app.cli", "create-api-key", "--name", "bench", "--scopes", "read"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = _free_port()
    log = (workdir / "service.log").open("w")
    service = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=workdir, env={**environment, "PORT": str(port)}, stdout=log, stderr=log
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the service did not get ready: {(workdir / 'service.log').read_text()[-2000:]}")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"{base}/api/v1/trading", headers=headers, timeout=60) as client:
            whole, body = _time(client, "/performance", {"start": start, "end": end}, args.requests)
            ragged_range = {"start": ragged_start, "end": ragged_end}
            ragged, ragged_body = _time(client, "/performance", ragged_range, args.requests)
            filtered, _ = _time(
                client,
                "/performance",
                {"start": start, "end": end, "strategy_id": "strategy-3", "instrument_id": "BTC-USDT-SWAP"},
                args.requests,
            )
            stats, _ = _time(client, "/statistics", {"start": "2026-10-26T00:00:00Z", "end": end}, args.requests)
        direct = asyncio.run(_direct_group_by(url, _at(start), _at(end), max(5, args.requests // 5)))

        for (first, last), answer in (((start, end), body), ((ragged_start, ragged_end), ragged_body)):
            count, pnl, volume = asyncio.run(_reference_sums(url, _at(first), _at(last)))
            assert answer["number_of_trades"] == count, (answer["number_of_trades"], count)
            assert Decimal(answer["total_pnl"]) == pnl, (answer["total_pnl"], pnl)
            assert Decimal(answer["volume"]) == volume, (answer["volume"], volume)
        print(
            f"GET /performance over {body['number_of_trades']:,} trades, {len(body['daily'])} days "
            f"({args.requests} requests each, real HTTP, median of the run):"
        )
        print(_line("three years, whole days (daily summaries)", whole))
        print(_line("three years, ragged ends (summaries + 2 partial days)", ragged))
        print(_line("one strategy and one instrument", filtered))
        print(_line("GET /statistics, last 30 days", stats))
        print(_line("for comparison: GROUP BY day straight over trades", direct))
        print("cross-check against plain SQL sums over trades: trade count, total PnL and volume equal")
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
