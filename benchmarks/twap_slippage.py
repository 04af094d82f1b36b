"""Slippage of a 100-slice TWAP on the simulator's synthetic market, against the arrival price and the interval VWAP.

The simulator's seeded market moves one step per minute of a controlled clock (so 100 slices over 100 minutes take
a second or two); each slice is a market order that walks the synthetic book. Printed, per seed: the arrival mid, the
execution's average price, its slippage against the arrival price, and against the interval's VWAP — here the mean
mid over the interval's steps, weighting each step equally (the synthetic market has no volume of its own).
Positive = worse than the benchmark (paid more when buying).

Run: `.venv/bin/python benchmarks/twap_slippage.py [--seeds 5] [--size 2] [--slices 100]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db import create_engine, create_session_factory  # noqa: E402
from app.migrations import upgrade_to_head_async  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.models.trading import OrderSide, OrderType  # noqa: E402
from app.services.okx.client import OKXClient  # noqa: E402
from app.services.okx.ratelimit import RateLimiter  # noqa: E402
from app.services.okx.simulator import (  # noqa: E402
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
    OKXSimulator,
    SimulatorConfig,
)
from app.services.trading.execution_strategies import TWAPExecution  # noqa: E402
from app.services.trading.executor import TradeExecutor  # noqa: E402
from app.services.trading.order_manager import OrderManager, OrderParams  # noqa: E402
from app.services.trading.risk import ExecutionRiskControl  # noqa: E402


class MarketClock:
    """A controlled clock: every minute that passes is one step of the simulator's price path."""

    def __init__(self, simulator: OKXSimulator) -> None:
        self.current = utcnow()
        self.simulator = simulator
        self.mids: list[Decimal] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds / 60))):
            self.simulator.exchange.tick(self.simulator.now_ms())
            self.mids.append(self.simulator.exchange.mark_price("BTC-USDT"))
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def run(seed: int, size: Decimal, slices: int, workdir: Path) -> tuple[Decimal, Decimal, float, float]:
    database_url = f"sqlite+aiosqlite:///{workdir / f'twap-{seed}.db'}"
    await upgrade_to_head_async(database_url, quiet=True)
    engine = create_engine(database_url)
    async with (
        OKXSimulator(SimulatorConfig(seed=seed, tick_interval_s=0, rate_limits=False)) as simulator,
        OKXClient(
            SANDBOX_API_KEY,
            SANDBOX_SECRET_KEY,
            SANDBOX_PASSPHRASE,
            simulator.rest_url,
            rate_limiter=RateLimiter(enabled=False),
        ) as okx,
        create_session_factory(engine)() as session,
    ):
        risk = ExecutionRiskControl({"max_order_value": Decimal("1e9"), "max_order_size": Decimal("1e6")})
        arrival = simulator.exchange.mark_price("BTC-USDT")
        risk.set_price("BTC-USDT", arrival)
        clock = MarketClock(simulator)
        clock.mids.append(arrival)
        strategy = TWAPExecution(
            TradeExecutor(okx, OrderManager(session), risk),
            {"duration": slices * 60, "num_slices": slices},
            clock=clock,
            poll_interval_s=60,
        )
        await strategy.execute(
            OrderParams("BTC-USDT", OrderSide.BUY, OrderType.MARKET, size, target_currency="base_ccy")
        )
        execution = strategy.execution
        assert execution is not None and execution.average_fill_price is not None
        assert execution.filled_size == size, "the TWAP did not fill its target"
        average = execution.average_fill_price
        vwap = sum(clock.mids, Decimal(0)) / len(clock.mids)
    await engine.dispose()
    return arrival, average, float((average - arrival) / arrival * 10_000), float((average - vwap) / vwap * 10_000)


async def main(args: argparse.Namespace) -> None:
    print(
        f"TWAP buy of {args.size} BTC-USDT in {args.slices} market slices, one market step per slice, "
        f"{args.seeds} seeds"
    )
    print(f"{'seed':>4}  {'arrival':>12}  {'average':>14}  {'vs arrival bps':>14}  {'vs interval VWAP bps':>20}")
    against_arrival, against_vwap = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(1, args.seeds + 1):
            arrival, average, arrival_bps, vwap_bps = await run(seed, Decimal(args.size), args.slices, Path(workdir))
            against_arrival.append(arrival_bps)
            against_vwap.append(vwap_bps)
            print(f"{seed:>4}  {arrival:>12}  {average:>14.4f}  {arrival_bps:>14.2f}  {vwap_bps:>20.2f}")
    print(
        f"median: {statistics.median(against_arrival):.2f} bps against the arrival price, "
        f"{statistics.median(against_vwap):.2f} bps against the interval VWAP"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--size", default="2")
    parser.add_argument("--slices", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
