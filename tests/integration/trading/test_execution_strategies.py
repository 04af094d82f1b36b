"""Execution strategies against the simulator, with a clock the test controls (no real minutes slept)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.trading import Execution, ExecutionStatus, InstrumentType, Order, OrderSide, OrderType, TradeMode
from app.services.okx.constants import LimitKey, RateLimit
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import OKXSimulator
from app.services.trading.execution_strategies import (
    IcebergExecution,
    LimitExecution,
    MarketExecution,
    TWAPExecution,
)
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderParams

D = Decimal


class ManualClock:
    """Time moves only when a strategy sleeps, at once; `on_sleep` lets a test act "meanwhile"."""

    def __init__(self, on_sleep: Callable[[], None] | None = None) -> None:
        self.current = utcnow()
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep()
            self.on_sleep = None
        await asyncio.sleep(0)


def buy(size: str, price: str | None = None, inst: str = "BTC-USDT") -> OrderParams:
    swap = inst.endswith("-SWAP")
    return OrderParams(
        inst,
        OrderSide.BUY,
        OrderType.LIMIT if price else OrderType.MARKET,
        D(size),
        D(price) if price else None,
        trade_mode=TradeMode.CROSS if swap else TradeMode.CASH,
        instrument_type=InstrumentType.SWAP if swap else InstrumentType.SPOT,
        target_currency=None if price or swap else "base_ccy",
    )


async def test_market_execution_fills_exactly_its_target(executor: TradeExecutor, db_session: AsyncSession) -> None:
    strategy = MarketExecution(executor, clock=ManualClock())

    children = await strategy.execute(buy("0.7"))

    execution = await db_session.get(Execution, strategy.execution.id)  # type: ignore[union-attr]
    assert execution is not None and execution.status is ExecutionStatus.COMPLETED
    assert execution.filled_size == D("0.7") == sum(c.filled_size for c in children)
    assert all(c.execution_id == execution.id for c in children)


async def test_limit_falls_back_to_market_for_what_did_not_fill(
    executor: TradeExecutor, sim: OKXSimulator, db_session: AsyncSession
) -> None:
    # While the limit order works, the market dips just enough to fill part of it.
    clock = ManualClock(on_sleep=lambda: sim.exchange.set_price("BTC-USDT", D("48995"), sim.now_ms()))
    strategy = LimitExecution(executor, {"timeout": 60, "fallback_to_market": True}, clock=clock, poll_interval_s=10)

    children = await strategy.execute(buy("3", "49000"))

    limit_child, market_child = children
    assert limit_child.status.value == "canceled" and 0 < limit_child.filled_size < 3
    assert market_child.order_type is OrderType.MARKET
    assert market_child.size == D("3") - limit_child.filled_size  # sized after the cancel settled
    assert sum(c.filled_size for c in children) == D("3")  # exactly the target, never more
    assert sum(clock.sleeps) >= 60


async def test_limit_without_fallback_stops_at_the_timeout(executor: TradeExecutor) -> None:
    strategy = LimitExecution(
        executor, {"timeout": 30, "fallback_to_market": False}, clock=ManualClock(), poll_interval_s=10
    )

    children = await strategy.execute(buy("0.1", "48000"))

    assert [c.status.value for c in children] == ["canceled"]
    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.CANCELED


async def test_twap_slices_are_evenly_spaced_and_lot_exact(executor: TradeExecutor) -> None:
    clock = ManualClock()
    strategy = TWAPExecution(executor, {"duration": 300, "num_slices": 3}, clock=clock)

    children = await strategy.execute(buy("1", inst="BTC-USDT-SWAP"))  # 1 contract in lots of 0.01

    assert [c.size for c in children] == [D("0.33"), D("0.33"), D("0.34")]  # the last slice takes the rest
    gaps = [(b - a).total_seconds() for a, b in zip(strategy.slice_times, strategy.slice_times[1:], strict=False)]
    assert gaps == [100.0, 100.0]
    assert strategy.execution is not None and strategy.execution.filled_size == D("1")
    assert strategy.execution.slices_done == 3


async def test_twap_with_limit_slices_carries_leftovers_and_still_meets_the_target(executor: TradeExecutor) -> None:
    strategy = TWAPExecution(executor, {"duration": 60, "num_slices": 4, "use_limit_orders": True}, clock=ManualClock())

    children = await strategy.execute(buy("0.4"))

    assert sum(c.filled_size for c in children) == D("0.4")
    assert children[-1].order_type is OrderType.MARKET  # the resting slices did not fill: the last one takes it all
    assert all(c.status.is_terminal for c in children)


@pytest.mark.parametrize(
    ("strategy", "config", "message"),
    [
        (TWAPExecution, {"duration": -5}, "duration"),
        (TWAPExecution, {"num_slices": 0}, "num_slices"),
        (LimitExecution, {"timeout": 0}, "timeout"),
        (LimitExecution, {"timout": 5}, "timout"),
    ],
)
def test_bad_config_is_refused_clearly(executor: TradeExecutor, strategy: type, config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strategy(executor, config)


async def test_a_refused_child_is_retried_then_the_execution_fails_with_the_reason(executor: TradeExecutor) -> None:
    wrong_mode = OrderParams("BTC-USDT-SWAP", OrderSide.BUY, OrderType.MARKET, D("1"))  # cash mode on a swap
    clock = ManualClock()
    strategy = TWAPExecution(executor, {"duration": 60, "num_slices": 2}, clock=clock)

    children = await strategy.execute(wrong_mode)

    assert [c.status.value for c in children] == ["rejected"] * 3  # bounded: three attempts
    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.FAILED
    assert "51000" in (strategy.execution.error_message or "")
    assert clock.sleeps[-2:] == [1.0, 2.0]


async def test_iceberg_never_shows_more_than_its_visible_share(executor: TradeExecutor, sim: OKXSimulator) -> None:
    def dip() -> None:  # each wait: the market comes down through the resting slice, then back
        sim.exchange.set_price("BTC-USDT", D("48000"), sim.now_ms())
        sim.exchange.set_price("BTC-USDT", D("50000"), sim.now_ms())

    class DippingClock(ManualClock):
        async def sleep(self, seconds: float) -> None:
            dip()
            await super().sleep(seconds)

    strategy = IcebergExecution(
        executor, {"visible_pct": "0.25", "max_refresh_time": 30}, clock=DippingClock(), poll_interval_s=5
    )

    children = await strategy.execute(buy("1", "50000"))

    filled = [c for c in children if c.filled_size > 0]
    assert sum(c.filled_size for c in children) == D("1")
    assert max(c.size for c in children) <= D("0.25") and strategy.largest_shown <= D("0.25")
    assert len(filled) >= 4 and not [c for c in children if not c.status.is_terminal]
    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.COMPLETED


async def test_cancel_stops_everything(executor: TradeExecutor) -> None:
    clock = ManualClock()
    strategy = IcebergExecution(
        executor, {"visible_pct": "0.5", "max_refresh_time": 3600}, clock=clock, poll_interval_s=10
    )
    clock.on_sleep = strategy.cancel  # asked to stop while its first slice rests

    children = await strategy.execute(buy("1", "48000"))

    assert [c.status.value for c in children] == ["canceled"]  # the working slice canceled, no new slice sent
    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.CANCELED


async def test_a_twap_interrupted_by_a_crash_resumes_where_it_left_off(
    executor: TradeExecutor, db_session: AsyncSession
) -> None:
    class Crash(BaseException):
        """The process dies (nothing in the strategy can catch it)."""

    class CrashingClock(ManualClock):
        async def sleep(self, seconds: float) -> None:
            if len(strategy.children) >= 2:  # during the wait after the second slice
                raise Crash
            await super().sleep(seconds)

    strategy = TWAPExecution(executor, {"duration": 400, "num_slices": 4}, clock=CrashingClock())
    with pytest.raises(Crash):
        await strategy.execute(buy("0.4"))
    execution = await db_session.get(Execution, strategy.execution.id)  # type: ignore[union-attr]
    assert execution is not None and execution.status is ExecutionStatus.RUNNING
    assert execution.slices_done == 2

    restarted = TWAPExecution(executor, execution.config, clock=ManualClock())
    children = await restarted.resume(execution)

    assert restarted.resumed and execution.status is ExecutionStatus.COMPLETED
    assert [c.size for c in children] == [D("0.1")] * 4  # two before the crash, two after: no slice twice
    assert sum(c.filled_size for c in children) == D("0.4")


async def test_every_child_passes_the_risk_checks(executor: TradeExecutor) -> None:
    far = buy("0.02", "30000")  # 40 % under the market: over max_price_deviation
    strategy = LimitExecution(executor, {"timeout": 10}, clock=ManualClock())

    children = await strategy.execute(far)

    assert children == []  # refused before anything was sent, three times
    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.FAILED
    assert "price_deviation_too_large" in (strategy.execution.error_message or "")


async def test_a_child_over_okxs_rate_limit_is_closed_as_rejected_and_placed_again_once_it_frees(
    executor: TradeExecutor, db_session: AsyncSession, sim: OKXSimulator
) -> None:
    client = executor.okx
    client._limiter = RateLimiter(limits={("POST", "/api/v5/trade/order"): RateLimit(1, 60, LimitKey.INSTRUMENT)})
    client.max_rate_wait_s = 0.05
    await executor.place_order(buy("0.01", "49000"))  # uses the instrument's one order for the minute

    def limit_frees() -> None:
        client._limiter = RateLimiter()

    strategy = LimitExecution(executor, {"timeout": 10}, clock=ManualClock(on_sleep=limit_frees))
    children = await strategy.execute(buy("0.02", "50500"))  # marketable: it fills once placed

    assert strategy.execution is not None and strategy.execution.status is ExecutionStatus.COMPLETED
    (placed,) = children
    assert placed.filled_size == D("0.02") and placed.exchange_order_id is not None
    rows = (await db_session.execute(select(Order).where(Order.execution_id == strategy.execution.id))).scalars()
    refused = [o for o in rows if o.id != placed.id]
    assert [(o.status.value, o.error_code) for o in refused] == [("rejected", "50011")]  # nothing sent: closed
    assert sim.exchange.state()["orders"][-1]["clOrdId"] == placed.client_order_id  # the refused one never went
