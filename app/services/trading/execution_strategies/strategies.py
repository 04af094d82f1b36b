"""The spec's execution strategies: market, limit with timeout and market fallback, and TWAP."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import Field

from app.models.trading import ExecutionAlgorithm, ExecutionStatus, Order, OrderSide, OrderType
from app.services.trading.execution_strategies.base import ExecutionStrategy, StrategyConfig
from app.services.trading.execution_strategies.slicing import next_slice, visible_size
from app.services.trading.order_manager import OrderParams

__all__ = ["IcebergExecution", "LimitExecution", "MarketExecution", "TWAPExecution"]


class MarketExecution(ExecutionStrategy):
    """The whole size at once, at market."""

    algorithm = ExecutionAlgorithm.MARKET

    async def _run(self, order_params: OrderParams) -> None:
        child = self.working_child
        if child is None and self.remaining > 0:
            child = await self._child(order_params, self.remaining, order_type=OrderType.MARKET)
        if child is not None:
            self.children[self.children.index(child)] = await self._settle(child)
        await self._finish(
            ExecutionStatus.COMPLETED if self.remaining == 0 else ExecutionStatus.FAILED,
            None if self.remaining == 0 else f"{self.remaining} left unfilled by the market order",
        )


class LimitConfig(StrategyConfig):
    timeout: float = Field(default=60.0, gt=0, description="seconds the limit order may work")
    fallback_to_market: bool = True


class LimitExecution(ExecutionStrategy):
    """A limit order at the parent's price for `timeout` seconds; what it did not fill then goes at market
    (`fallback_to_market`), sized only after the limit order's cancel settled, so the total never exceeds the target."""

    algorithm = ExecutionAlgorithm.LIMIT
    Config = LimitConfig

    async def validate(self, order_params: OrderParams) -> None:
        if order_params.price is None:
            raise ValueError("a limit execution needs a price")

    async def _run(self, order_params: OrderParams) -> None:
        assert isinstance(self.config, LimitConfig) and order_params.price is not None
        assert self.execution is not None and self.execution.started_at is not None
        deadline = self.execution.started_at + timedelta(seconds=self.config.timeout)
        placed_limit = any(c.order_type is OrderType.LIMIT for c in self.children)
        if not placed_limit:
            await self._child(order_params, order_params.size, order_type=OrderType.LIMIT, price=order_params.price)
        limit_child = next(c for c in self.children if c.order_type is OrderType.LIMIT)
        index = self.children.index(limit_child)
        self.children[index] = await self._cancel_and_settle(await self._settle(limit_child, until=deadline))
        fallback = next((c for c in self.children if c.order_type is OrderType.MARKET), None)
        if fallback is not None:  # resumed after the fallback was sent
            self.children[self.children.index(fallback)] = await self._settle(fallback)
        elif self.remaining > 0 and self.config.fallback_to_market:
            fallback = await self._child(order_params, self.remaining, order_type=OrderType.MARKET)
            self.children[-1] = await self._settle(fallback)
        if self.remaining == 0:
            await self._finish(ExecutionStatus.COMPLETED)
        else:
            await self._finish(
                ExecutionStatus.CANCELED, f"timeout after {self.config.timeout:g} s with {self.remaining} unfilled"
            )


class TWAPConfig(StrategyConfig):
    duration: float = Field(default=300.0, gt=0, description="seconds over which the slices are spread")
    num_slices: int = Field(default=10, ge=1, le=10_000)
    use_limit_orders: bool = False


class TWAPExecution(ExecutionStrategy):
    """`num_slices` children evenly spaced over `duration`. Each slice is an even share of what is still unfilled
    (lot-aligned, at least minSz); with `use_limit_orders` a slice rests at the touch and what it did not fill by the
    next slice is canceled and carried on; the last slice goes at market, so the target is met exactly."""

    algorithm = ExecutionAlgorithm.TWAP
    Config = TWAPConfig

    def planned_slices(self) -> int | None:
        assert isinstance(self.config, TWAPConfig)
        return self.config.num_slices

    async def _run(self, order_params: OrderParams) -> None:
        assert isinstance(self.config, TWAPConfig)
        instrument = await self.executor.okx.public.instrument(order_params.instrument_id)
        execution = self.execution
        assert execution is not None
        interval = timedelta(seconds=self.config.duration / self.config.num_slices)
        start = execution.started_at or self.clock.now()
        self.slice_times: list[datetime] = []
        working: Order | None = self.working_child  # after a restart: the slice that was working
        for index in range(execution.slices_done, self.config.num_slices):
            due = start + interval * index
            if (wait := (due - self.clock.now()).total_seconds()) > 0:
                await self._sleep(wait)
                self._check_canceled()
            if working is not None:  # the previous limit slice's leftover is carried to this one
                self.children[-1] = await self._cancel_and_settle(working)
                working = None
            last = index == self.config.num_slices - 1
            size = next_slice(self.remaining, self.config.num_slices - index, instrument.lot_sz, instrument.min_sz)
            if size <= 0:
                break
            self.slice_times.append(self.clock.now())
            if self.config.use_limit_orders and not last:
                ticker = await self.executor.okx.market.get_ticker(order_params.instrument_id)
                touch = ticker.bid_px if order_params.side is OrderSide.BUY else ticker.ask_px
                child = await self._child(order_params, size, order_type=OrderType.LIMIT, price=touch)
                working = await self._settle(child, until=self.clock.now())
                self.children[-1] = working
                if working.status.is_terminal:
                    working = None
            else:
                child = await self._child(order_params, size, order_type=OrderType.MARKET)
                self.children[-1] = await self._settle(child)
            execution.slices_done = index + 1
            await self._progress()
        if self.remaining == 0:
            await self._finish(ExecutionStatus.COMPLETED)
        else:
            await self._finish(ExecutionStatus.FAILED, f"{self.remaining} left unfilled after the last slice")


class IcebergConfig(StrategyConfig):
    visible_pct: Decimal = Field(default=Decimal("0.1"), gt=0, le=1, description="share of the total shown at once")
    max_refresh_time: float = Field(default=30.0, gt=0, description="seconds before a resting slice is re-priced")
    use_limit_orders: bool = True


class IcebergExecution(ExecutionStrategy):
    """One child at a time, never larger than `visible_pct` of the total: the next goes up when the previous one
    filled; a slice resting longer than `max_refresh_time` is canceled and placed again at the current touch (never
    beyond the parent's limit price). Without `use_limit_orders` each slice goes at market."""

    algorithm = ExecutionAlgorithm.ICEBERG
    Config = IcebergConfig

    def planned_slices(self) -> int | None:
        return None

    async def validate(self, order_params: OrderParams) -> None:
        assert isinstance(self.config, IcebergConfig)
        if self.config.use_limit_orders and order_params.price is None:
            raise ValueError("an iceberg of limit orders needs a price")
        instrument = await self.executor.okx.public.instrument(order_params.instrument_id)
        visible_size(order_params.size, self.config.visible_pct, instrument.lot_sz, instrument.min_sz)

    async def _run(self, order_params: OrderParams) -> None:
        assert isinstance(self.config, IcebergConfig)
        instrument = await self.executor.okx.public.instrument(order_params.instrument_id)
        visible = visible_size(order_params.size, self.config.visible_pct, instrument.lot_sz, instrument.min_sz)
        self.largest_shown = Decimal(0)
        if (working := self.working_child) is not None:  # after a restart: settle the slice that was showing
            self.children[self.children.index(working)] = await self._cancel_and_settle(working)
            await self._progress()
        while self.remaining > 0:
            size = min(visible, self.remaining)
            if self.remaining - size < instrument.min_sz:  # a leftover below minSz could never be placed: take it now
                size = self.remaining if self.remaining <= visible else self.remaining - instrument.min_sz
            self.largest_shown = max(self.largest_shown, size)
            if self.config.use_limit_orders:
                price = await self._touch(order_params)
                child = await self._child(order_params, size, order_type=OrderType.LIMIT, price=price)
                deadline = self.clock.now() + timedelta(seconds=self.config.max_refresh_time)
                child = await self._settle(child, until=deadline)
                self.children[-1] = await self._cancel_and_settle(child)  # re-priced next round if it did not fill
            else:
                child = await self._child(order_params, size, order_type=OrderType.MARKET)
                self.children[-1] = await self._settle(child)
            await self._progress()
        await self._finish(ExecutionStatus.COMPLETED)

    async def _touch(self, params: OrderParams) -> Decimal:
        """Our side's best price now, never beyond the parent's limit."""
        assert params.price is not None
        ticker = await self.executor.okx.market.get_ticker(params.instrument_id)
        if params.side is OrderSide.BUY:
            return min(params.price, ticker.bid_px or params.price)
        return max(params.price, ticker.ask_px or params.price)
