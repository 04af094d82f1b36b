"""A trading process for the crash test: places orders `--from`..`--to` through the real trading stack (runtime,
tracker, executor) against a simulator in another process, printing each index as its order is placed.

`python -m tests.e2e.trading_driver --database-url URL --rest-url URL --from 0 --to 500 [--settle]`
An index whose order is already in the database (idempotency key `drv-<i>`) is skipped: a restarted driver
continues where the killed one stopped, and its start-up reconciliation settles what was in flight.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import create_engine, create_session_factory
from app.models.trading import Order, OrderSide, OrderType
from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import SANDBOX_API_KEY, SANDBOX_PASSPHRASE, SANDBOX_SECRET_KEY
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.risk import ExecutionRiskControl
from app.services.trading.runtime import TradingRuntime


def params_for(index: int, mid: Decimal) -> OrderParams:
    side = OrderSide.BUY if index % 2 == 0 else OrderSide.SELL
    if index % 3 == 0:
        return OrderParams("BTC-USDT", side, OrderType.MARKET, Decimal("0.001"), target_currency="base_ccy")
    offset = Decimal("0.0005") * (1 + index % 4)  # a few ticks from the market: some fill as the price moves
    price = mid * (1 - offset) if side is OrderSide.BUY else mid * (1 + offset)
    return OrderParams("BTC-USDT", side, OrderType.LIMIT, Decimal("0.002"), price.quantize(Decimal("0.1")))


async def wait_until_acknowledged(factory: async_sessionmaker[AsyncSession]) -> None:
    """Until no order is pending_submit or unknown (the tracker proves or finds each)."""
    for _ in range(300):
        async with factory() as session:
            rows = (await session.execute(select(Order))).scalars().all()
        if all(o.status.value not in ("pending_submit", "unknown") for o in rows):
            return
        await asyncio.sleep(0.1)
    raise SystemExit("orders still unacknowledged after 30 s")


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(args.database_url)
    factory = create_session_factory(engine)
    okx = OKXClient(
        SANDBOX_API_KEY,
        SANDBOX_SECRET_KEY,
        SANDBOX_PASSPHRASE,
        args.rest_url,
        rate_limiter=RateLimiter(enabled=False),
        retry_policy=RetryPolicy(attempts=6, base_delay_s=0.05),
    )
    risk = ExecutionRiskControl({"max_orders_per_strategy": 10**6, "max_open_orders": 10**6})
    ws_url = args.rest_url.replace("http://", "ws://") + "/ws/v5/private"
    runtime = TradingRuntime(okx, factory, risk, ws_private_url=ws_url, tracker_poll_interval_s=0.5)
    await runtime.start()
    await asyncio.wait_for(runtime.started.wait(), 30)  # start-up reconciliation of what the last run left
    print("started", flush=True)
    async with factory() as session:
        executor = TradeExecutor(okx, OrderManager(session), risk, runtime.tracker)
        for index in range(args.start, args.stop):
            key = f"drv-{index}"
            if (await session.execute(select(Order.id).where(Order.idempotency_key.startswith(key)))).first():
                continue
            mid = risk.prices.get("BTC-USDT", Decimal("50000"))
            await executor.place_order(params_for(index, mid), idempotency_key=key, strategy_id="crash-test")
            print(index, flush=True)
    if args.settle:
        await wait_until_acknowledged(factory)
        # An order proven never placed (not found after its expTime) is placed again, as a strategy would:
        # only that proof makes a second order safe.
        async with factory() as session:
            executor = TradeExecutor(okx, OrderManager(session), risk, runtime.tracker)
            rows = (await session.execute(select(Order))).scalars().all()
            indices = {int(o.idempotency_key.split("-")[1]) for o in rows if o.idempotency_key}
            placed = {
                int(o.idempotency_key.split("-")[1])
                for o in rows
                if o.idempotency_key and o.error_code != "not_found_after_exp_time"
            }
            for index in sorted(indices - placed):
                mid = risk.prices.get("BTC-USDT", Decimal("50000"))
                await executor.place_order(
                    params_for(index, mid), idempotency_key=f"drv-{index}-again", strategy_id="crash-test"
                )
        await wait_until_acknowledged(factory)
        await runtime.tracker.gap_fill()
        print("settled", flush=True)
    await runtime.stop()
    await okx.aclose()
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--from", dest="start", type=int, default=0)
    parser.add_argument("--to", dest="stop", type=int, default=500)
    parser.add_argument("--settle", action="store_true")
    asyncio.run(main(parser.parse_args()))
