"""What every execution strategy shares: a persisted parent execution, child orders through the executor (so each
child is risk-checked, written ahead and never resent), an injectable clock, and exact progress accounting.

The parent's `filled_size` and `average_fill_price` are recomputed from its children's stored fills, so they are
exact and never exceed the target: a child is only sent for what the earlier children left, after they finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select

from app.models.base import utcnow
from app.models.trading import (
    Execution,
    ExecutionAlgorithm,
    ExecutionEventType,
    ExecutionStatus,
    InstrumentType,
    Order,
    OrderStatus,
    OrderType,
    TradeMode,
)
from app.services.okx.errors import OKXError, OKXInstrumentNotFound
from app.services.okx.market import instrument_type_of
from app.services.trading.errors import ExchangeRateLimited, OrderNotCancelable, RiskRejected
from app.services.trading.events import record_event
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderParams, trade_modes_for
from app.services.trading.signal import Account

__all__ = ["Clock", "ExecutionFailed", "ExecutionStrategy", "StrategyConfig", "SystemClock"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# A refused child (an exchange or risk refusal) is retried this many times in all, with a growing pause, then the
# execution fails with the reason.
MAX_CHILD_ATTEMPTS = 3
CHILD_RETRY_DELAY_S = 1.0


class ExecutionFailed(Exception):
    """The execution cannot go on; the message is the reason stored on it."""


class ExecutionCanceled(Exception):
    """The execution was asked to stop."""


class StrategyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionStrategy(ABC):
    algorithm: ClassVar[ExecutionAlgorithm]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(
        self,
        executor: TradeExecutor,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        poll_interval_s: float = 0.5,
        account: Callable[[], Account] | None = None,
    ) -> None:
        try:
            self.config = self.Config.model_validate(dict(config or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ()))
            raise ValueError(f"{self.algorithm.value} config: {field}: {first.get('msg')}") from None
        self.executor = executor
        self.session = executor.session
        self.clock: Clock = clock or SystemClock()
        self.poll_interval_s = poll_interval_s
        # The account the risk checks read (the service's executions always have one).
        self.account = account
        self.execution: Execution | None = None
        self.children: list[Order] = []
        self.cancel_requested = False
        self._canceled = asyncio.Event()
        self.resumed = False

    def cancel(self) -> None:
        """Stop: no new child is sent, the working one is canceled, the execution ends `canceled`. A wait in
        progress (between slices, or for a child) is cut short."""
        self.cancel_requested = True
        self._canceled.set()

    async def _sleep(self, seconds: float) -> None:
        """The clock's sleep, interrupted by a cancel request."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiter = asyncio.ensure_future(self._canceled.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
        if sleeper.done() and not sleeper.cancelled() and (error := sleeper.exception()) is not None:
            raise error

    def _check_canceled(self) -> None:
        if self.cancel_requested:
            raise ExecutionCanceled("canceled on request")

    # --- the parent -----------------------------------------------------------------------------------------

    async def _start(self, params: OrderParams, *, strategy_id: str | None, slices: int | None) -> Execution:
        execution = Execution(
            algorithm=self.algorithm,
            status=ExecutionStatus.RUNNING,
            instrument_id=params.instrument_id,
            side=params.side,
            target_size=params.size,
            filled_size=Decimal(0),
            limit_price=params.price,
            arrival_price=self.executor.risk.prices.get(params.instrument_id),
            config=self.config.model_dump(mode="json"),
            slices_total=slices,
            slices_done=0,
            strategy_id=strategy_id,
            started_at=self.clock.now(),
        )
        self.session.add(execution)
        await self.session.flush()
        record_event(
            self.session,
            ExecutionEventType.EXECUTION_STARTED,
            execution_id=execution.id,
            instrument_id=params.instrument_id,
            strategy_id=strategy_id,
            data={"algorithm": self.algorithm, "target_size": params.size, "config": execution.config},
        )
        await self.session.commit()
        self.execution = execution
        return execution

    async def _progress(self) -> Execution:
        """Filled size and average price from the children's stored fills (exact)."""
        assert self.execution is not None
        filled = sum((child.filled_size for child in self.children), Decimal(0))
        value = sum((child.filled_size * (child.average_fill_price or 0) for child in self.children), Decimal(0))
        execution = self.execution
        execution.filled_size = filled
        execution.average_fill_price = value / filled if filled else None
        await self.session.commit()
        return execution

    async def _finish(self, status: ExecutionStatus, reason: str | None = None) -> None:
        execution = await self._progress()
        execution.status = status
        execution.error_message = reason
        execution.finished_at = self.clock.now()
        record_event(
            self.session,
            ExecutionEventType.EXECUTION_FINISHED,
            execution_id=execution.id,
            instrument_id=execution.instrument_id,
            strategy_id=execution.strategy_id,
            data={"status": status, "filled_size": execution.filled_size, "reason": reason},
        )
        await self.session.commit()

    @property
    def remaining(self) -> Decimal:
        assert self.execution is not None
        return self.execution.target_size - sum((child.filled_size for child in self.children), Decimal(0))

    # --- children -------------------------------------------------------------------------------------------

    async def _child(
        self, params: OrderParams, size: Decimal, *, order_type: OrderType, price: Decimal | None = None
    ) -> Order:
        assert self.execution is not None
        self._check_canceled()
        child_params = OrderParams(
            instrument_id=params.instrument_id,
            side=params.side,
            order_type=order_type,
            size=size,
            price=price if order_type is not OrderType.MARKET else None,
            trade_mode=params.trade_mode,
            position_side=params.position_side,
            target_currency="base_ccy" if order_type is OrderType.MARKET and params.instrument_type == "SPOT" else None,
            reduce_only=params.reduce_only,
            instrument_type=params.instrument_type,
        )
        reason = ""
        for attempt in range(1, MAX_CHILD_ATTEMPTS + 1):
            try:  # every child passes the pre-trade checks (those needing an account only when one is given)
                order = await self.executor.place_checked_order(
                    child_params,
                    self.account() if self.account is not None else None,
                    strategy_id=self.execution.strategy_id,
                    execution_id=self.execution.id,
                )
            except RiskRejected as exc:
                reason = f"risk check {exc.code}: {exc.reason}"
            except ExchangeRateLimited as exc:  # nothing placed (the order is closed as rejected): try again later
                reason = f"{exc.okx_code}: {exc.message}"
            else:
                self.children.append(order)
                if order.status not in (OrderStatus.REJECTED, OrderStatus.FAILED):
                    return order
                reason = f"{order.error_code}: {order.error_message}"
            if attempt < MAX_CHILD_ATTEMPTS:
                await self._sleep(CHILD_RETRY_DELAY_S * attempt)
        raise ExecutionFailed(f"child order refused {MAX_CHILD_ATTEMPTS} times; last: {reason}")

    async def _settle(self, order: Order, *, until: datetime | None = None) -> Order:
        """Poll the child (reconciling with the exchange) until it is finished or `until` passes; a cancel request
        interrupts the wait."""
        while True:
            order = await self.executor.reconcile_order(order)
            if order.status.is_terminal or (until is not None and self.clock.now() >= until):
                return order
            self._check_canceled()
            await self._sleep(self.poll_interval_s)

    async def _cancel_and_settle(self, order: Order) -> Order:
        """Cancel a working child and wait for the exchange's verdict: a fill that races the cancel is counted
        before anything else is sent for the remainder."""
        if not order.status.is_terminal:
            with contextlib.suppress(OKXError, OrderNotCancelable):  # refused or lost: the reconciliation decides
                order = await self.executor.cancel_order(order.id)
        while not order.status.is_terminal:
            await self._sleep(self.poll_interval_s)
            order = await self.executor.reconcile_order(order)
        return order

    def planned_slices(self) -> int | None:
        return 1

    async def begin(self, order_params: OrderParams, *, strategy_id: str | None = None) -> Execution:
        """Validate and record the parent execution (the API returns it before the work is done)."""
        self.params = order_params
        try:
            await self.executor.okx.public.instrument(order_params.instrument_id)
        except OKXInstrumentNotFound:
            raise ValueError(f"instrument {order_params.instrument_id} does not exist") from None
        await self.validate(order_params)
        return await self._start(order_params, strategy_id=strategy_id, slices=self.planned_slices())

    async def validate(self, order_params: OrderParams) -> None:  # noqa: B027 - most strategies accept anything
        """Refuse, before anything is recorded, what this strategy cannot do (ValueError with the reason)."""

    async def execute(self, order_params: OrderParams, *, strategy_id: str | None = None) -> list[Order]:
        """Work the parent order; returns its child orders. A failure ends the execution with its reason."""
        await self.begin(order_params, strategy_id=strategy_id)
        return await self.run()

    async def resume(self, execution: Execution) -> list[Order]:
        """Carry on an execution a previous process left `running` (after a restart), from what the database
        holds: its children (reconciled first: they may have filled meanwhile), slices done, start time."""
        self.execution = execution
        self.params = OrderParams(
            instrument_id=execution.instrument_id,
            side=execution.side,
            order_type=OrderType.LIMIT if execution.limit_price is not None else OrderType.MARKET,
            size=execution.target_size,
            price=execution.limit_price,
            trade_mode=self._trade_mode(execution.instrument_id),
            instrument_type=self._instrument_type(execution.instrument_id),
        )
        children = await self.session.execute(
            select(Order).where(Order.execution_id == execution.id).order_by(Order.id)
        )
        self.children = [await self.executor.reconcile_order(child) for child in children.scalars()]
        self.resumed = True
        return await self.run()

    @staticmethod
    def _instrument_type(instrument_id: str) -> InstrumentType:
        return InstrumentType(instrument_type_of(instrument_id))

    @staticmethod
    def _trade_mode(instrument_id: str) -> TradeMode:
        return trade_modes_for(instrument_id)[0]

    @property
    def working_child(self) -> Order | None:
        return next((child for child in reversed(self.children) if not child.status.is_terminal), None)

    async def run(self) -> list[Order]:
        """Work an execution recorded by `begin`."""
        try:
            await self._run(self.params)
        except ExecutionFailed as exc:
            await self._finish(ExecutionStatus.FAILED, str(exc))
        except ExecutionCanceled as exc:
            for index, child in enumerate(self.children):
                if not child.status.is_terminal:
                    self.children[index] = await self._cancel_and_settle(child)
            await self._finish(ExecutionStatus.CANCELED, str(exc))
        except Exception as exc:  # anything else ends it too, with the reason recorded: never a silent stop
            log.exception("execution %s failed", self.execution.id if self.execution else "?")
            await self.session.rollback()
            await self._finish(ExecutionStatus.FAILED, f"{type(exc).__name__}: {exc}")
        return self.children

    @abstractmethod
    async def _run(self, order_params: OrderParams) -> None:
        """The strategy itself (the execution is recorded already)."""
