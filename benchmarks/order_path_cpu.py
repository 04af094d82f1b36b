"""CPU of one order's database life through the real service classes, phase by phase (issue 10's budget).

The load benchmark says how much CPU the service spends per order; this says where, without HTTP or the exchange:
the write-ahead (`OrderManager.create_order`, committed), the acknowledgement (`OrderManager.acknowledge`, committed),
and the final push applied by `ExchangeOrderSync.apply` — a cancel for half of the orders, a fill for the other
half (trade, position, order, events and daily summary in one unit of work), as the order tracker applies them. As
in the service, the one-statement units of work take the direct lane (`app.db_direct`); `--no-direct-lane` runs
them through the session instead, for comparison.

Each phase is timed with `time.process_time()` (this process's CPU, not waiting), over N orders after a warm-up,
in rounds; the median round is printed. On PostgreSQL (a fresh database `bench_order_path`). When PostgreSQL runs on
this machine, its CPU per phase is printed too: every PostgreSQL process's time on a CPU (`/proc/<pid>/schedstat`,
in ns; the WAL writer and checkpointer included), read between the phases (the reads are not counted in ours).

Run: `.venv/bin/python benchmarks/order_path_cpu.py [--orders 300] [--rounds 3] [--no-direct-lane] [--ours-only]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from _database import recreate_database

from app.db import create_engine, create_session_factory
from app.db_direct import DirectLane
from app.models.trading import OrderSide, OrderType
from app.services.okx import models as okx
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.sync import ExchangeOrderSync

INSTRUMENT = okx.Instrument(
    inst_type="SPOT",
    inst_id="BTC-USDT",
    tick_sz=Decimal("0.1"),
    lot_sz=Decimal("0.00001"),
    min_sz=Decimal("0.00001"),
    state="live",
)
PARAMS = OrderParams(
    instrument_id="BTC-USDT",
    side=OrderSide.BUY,
    order_type=OrderType.LIMIT,
    size=Decimal("0.01"),
    price=Decimal("50000"),
)
PHASES = ("write-ahead", "acknowledgement", "push: canceled", "push: filled")


class _Instruments:
    """The one exchange call `apply` makes (the instrument, cached in the real client): answered from memory."""

    async def instrument(self, _inst_id: str) -> okx.Instrument:
        return INSTRUMENT


def _push(ord_id: str, cl_ord_id: str, trade_id: str | None) -> okx.Order:
    now = datetime.now(UTC)
    filled = trade_id is not None
    return okx.Order(
        inst_id="BTC-USDT",
        ord_id=ord_id,
        cl_ord_id=cl_ord_id,
        px=PARAMS.price,
        sz=PARAMS.size,
        ord_type="limit",
        side="buy",
        state="filled" if filled else "canceled",
        acc_fill_sz=PARAMS.size if filled else Decimal(0),
        fill_px=PARAMS.price if filled else None,
        fill_sz=PARAMS.size if filled else None,
        trade_id=trade_id,
        fill_fee=Decimal("-0.01") if filled else None,
        fill_fee_ccy="USDT",
        exec_type="T",
        fill_time=now if filled else None,
        c_time=now,
        u_time=now,
    )


def _postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "postgres"], capture_output=True, text=True, check=False).stdout.split()
    return [int(pid) for pid in found]


class _Clocks:
    """This process's CPU and PostgreSQL's (every process of it), read at the end of each phase; the time spent
    reading PostgreSQL's is taken out of ours."""

    def __init__(self, postgres: bool = True) -> None:
        self.postgres_pids = _postgres_pids() if postgres else []
        self._own = 0.0  # our CPU, reads excluded
        self._last = time.process_time()

    def postgres_s(self) -> float:
        total = 0
        for pid in self.postgres_pids:
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        return total / 1e9

    def read(self) -> tuple[float, float]:
        now = time.process_time()
        self._own += now - self._last
        postgres = self.postgres_s() if self.postgres_pids else 0.0
        self._last = time.process_time()
        return self._own, postgres


async def _round(
    factory: object, orders: int, ids: itertools.count[int], clocks: _Clocks
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds per phase over `orders` orders: this process's and PostgreSQL's."""
    exchange = SimpleNamespace(public=_Instruments())
    ours = dict.fromkeys(PHASES, 0.0)
    theirs = dict.fromkeys(PHASES, 0.0)

    def add(phase: str, before: tuple[float, float], after: tuple[float, float]) -> None:
        ours[phase] += after[0] - before[0]
        theirs[phase] += after[1] - before[1]

    for index in range(orders):
        start = clocks.read()
        async with factory() as session:  # type: ignore[operator]
            order = await OrderManager(session).create_order(PARAMS, strategy_id="bench", commit=True)
            order_id, client_order_id = order.id, order.client_order_id
        written = clocks.read()
        ord_id = str(next(ids))
        async with factory() as session:  # type: ignore[operator]
            await OrderManager(session).acknowledge(order_id, ord_id, commit=True)
        acknowledged = clocks.read()
        fill = index % 2 == 1
        push = _push(ord_id, client_order_id, str(next(ids)) if fill else None)
        async with factory() as session:  # type: ignore[operator]
            await ExchangeOrderSync(exchange, session).apply(push, from_push=True, commit=True)  # type: ignore[arg-type]
        applied = clocks.read()
        add("write-ahead", start, written)
        add("acknowledgement", written, acknowledged)
        add("push: filled" if fill else "push: canceled", acknowledged, applied)
    return ours, theirs


def _per_order(rounds: list[dict[str, float]], orders: int) -> dict[str, float]:
    """ms per order of its kind (the pushes each happen to half of them), median round."""
    return {
        phase: 1000 * statistics.median(r[phase] for r in rounds) / (orders / 2 if phase.startswith("push") else orders)
        for phase in PHASES
    }


def _print(title: str, per_order: dict[str, float]) -> None:
    print(title)
    for phase, value in per_order.items():
        print(f"  {phase:<16} {value:6.2f}")
    mean = (
        per_order["write-ahead"]
        + per_order["acknowledgement"]
        + (per_order["push: canceled"] + per_order["push: filled"]) / 2
    )
    print(f"  {'one order':<16} {mean:6.2f}  (half canceled, half filled, as in benchmarks/load.py)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_order_path")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-direct-lane", action="store_true", help="every unit of work through the session")
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="do not read PostgreSQL's CPU (for an instruction count of this process under valgrind, where reading "
        "/proc for every phase would be most of what is counted)",
    )
    args = parser.parse_args()

    await recreate_database(args.database_url)
    engine = create_engine(args.database_url)
    lane = None if args.no_direct_lane else await DirectLane.open(engine, size=2, timeout_s=5)
    factory = create_session_factory(engine, direct=lane)
    ids = itertools.count(1)
    await _round(factory, 50, ids, _Clocks(postgres=False))  # warm-up: statement caches, prepared statements, pool
    # PostgreSQL's processes now include the backends of this process's connections.
    clocks = _Clocks(postgres=not args.ours_only)
    rounds = [await _round(factory, args.orders, ids, clocks) for _ in range(args.rounds)]
    if lane is not None:
        await lane.close()
    await engine.dispose()

    how = f"ms, median of {args.rounds} rounds of {args.orders} orders"
    _print(f"CPU of this process per order ({how}):", _per_order([ours for ours, _ in rounds], args.orders))
    if clocks.postgres_pids:
        _print(f"CPU of PostgreSQL per order ({how}):", _per_order([theirs for _, theirs in rounds], args.orders))


if __name__ == "__main__":
    try:  # the service's loop (uvicorn picks uvloop): its socket writes cost less than asyncio's own
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
