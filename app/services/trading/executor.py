"""`TradeExecutor`: signals to orders, and the order lifecycle of DESIGN.md §4 with the exchange.

1. Write ahead: risk check, then the `Order` row (pending_submit, fresh clOrdId, the expTime it will carry) is
   committed before any byte goes to the exchange.
2. Submit: an ack makes it live; a refusal makes it rejected with OKX's code and message; an ambiguous failure makes
   it unknown and it is reconciled by clOrdId — never sent again. "Not found" becomes `failed` only once its
   expTime (plus a margin for clock error) has passed: OKX never executes a request after its expTime, so only then
   is absence a proof.
3. Cancel and amend go through the state machine too (`pending_cancel` until the exchange's verdict).
Every change is re-read under a row lock before it is applied (another task — the tracker — may have moved it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as DatabaseBusy

from app.log_config import log_context
from app.models.base import utcnow
from app.models.trading import ExecutionEventType, InstrumentType, Order, OrderType
from app.services.okx.client import OKXClient
from app.services.okx.errors import (
    OKXAPIError,
    OKXError,
    OKXOrderAlreadyFinished,
    OKXOutcomeUnknown,
    OKXRateLimitError,
)
from app.services.okx.market import instrument_type_of
from app.services.okx.trade import AmendRequest, OrderRequest
from app.services.trading.admission import FillLagGate, OrderAdmission
from app.services.trading.errors import (
    ExchangeRateLimited,
    OrderNotCancelable,
    OrderNotFound,
    RiskRejected,
    UnsupportedExecution,
)
from app.services.trading.events import record_event
from app.services.trading.metrics import INTERNAL_OVERHEAD, SUBMIT_SECONDS, WORK_RECEIVED_AT
from app.services.trading.order_manager import OrderManager, OrderParams, trade_modes_for
from app.services.trading.order_state import OrderTrigger, next_status
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.risk import ExecutionRiskControl, RiskCheckResult, TradingState
from app.services.trading.signal import Account, Signal
from app.services.trading.sync import ExchangeOrderSync, cancel_again

log = logging.getLogger(__name__)

# The database could not be used (busy, gone): after the exchange has answered, the answer is still the caller's.
UNAVAILABLE = (DatabaseBusy, OperationalError, InterfaceError)

__all__ = ["CancelAllResult", "TradeExecutor"]


@dataclass
class CancelAllResult:
    canceled: list[Order] = field(default_factory=list)  # as the exchange's verdict left them
    failed: list[tuple[int, str]] = field(default_factory=list)  # order id, why


class TradeExecutor:
    def __init__(
        self,
        okx_client: OKXClient,
        order_manager: OrderManager,
        risk_manager: ExecutionRiskControl,
        order_tracker: OrderTracker | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        admission: OrderAdmission | FillLagGate | None = None,
    ) -> None:
        self.clock = clock
        self.admission = admission  # new orders wait for the start, then the fills (the API's); None: never
        self.okx = okx_client
        self.orders = order_manager
        self.session = order_manager.session
        self.risk = risk_manager
        self.tracker = order_tracker
        self.sync = ExchangeOrderSync(okx_client, order_manager.session)

    # --- signals ------------------------------------------------------------------------------------------

    async def execute_signal(
        self,
        signal: Signal,
        account: Account | Callable[[], Account],
        strategy_id: str | None = None,
        *,
        request_fingerprint: str | None = None,
    ) -> Order:
        """Risk-check a strategy's signal and place the order it asks for. `account` may be given as a function
        that reads it: it is then read once the order has been admitted (the view of a replica that was still
        starting, or whose fills were behind, is read after the wait, not before it)."""
        if self.admission is not None:  # before the checks: they read the positions the fills leave
            await self.admission.admit()
        account = account() if callable(account) else account
        strategy = strategy_id or signal.strategy_id
        if signal.execution is not None and signal.execution.algorithm not in ("market", "limit"):
            raise UnsupportedExecution(
                f"execution algorithm {signal.execution.algorithm!r} is not available yet; send market or limit"
            )
        result = self.risk.pre_trade_check(signal, account)
        if not result.passed:
            await self._refuse(result, signal, strategy)
        self.risk.record_order(strategy)  # reserved before any await: concurrent signals see it
        assert result.size is not None
        derivative = instrument_type_of(signal.instrument_id) != "SPOT"
        params = OrderParams(
            instrument_id=signal.instrument_id,
            side=signal.side,
            order_type=OrderType.LIMIT if signal.price is not None else OrderType.MARKET,
            size=result.size,
            price=signal.price,
            trade_mode=trade_modes_for(signal.instrument_id)[0],
            target_currency=None if derivative or signal.price is not None else "base_ccy",
            reduce_only=signal.reduce_only or self.risk.reduce_only_required(signal.instrument_id),
            instrument_type=InstrumentType(instrument_type_of(signal.instrument_id)),
        )
        return await self.place_order(
            params,
            strategy_id=strategy,
            idempotency_key=signal.client_signal_id,
            request_fingerprint=request_fingerprint,
            arrival_price=self.risk.prices.get(signal.instrument_id, result.reference_price),
        )

    async def place_checked_order(
        self,
        params: OrderParams,
        account: Account | Callable[[], Account] | None,
        *,
        strategy_id: str | None = None,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        execution_id: int | None = None,
    ) -> Order:
        """An order given directly (the API's POST /orders): the same risk checks as a signal, then placed.
        `account` as for `execute_signal`."""
        if self.admission is not None:  # before the checks: they read the positions the fills leave
            await self.admission.admit()
        account = account() if callable(account) else account
        strategy = strategy_id or "api"
        signal = Signal(
            strategy_id=strategy,
            instrument_id=params.instrument_id,
            side=params.side,
            size=params.size,
            price=params.price,
            reduce_only=params.reduce_only,
        )
        result = self.risk.pre_trade_check(signal, account)
        if not result.passed:
            await self._refuse(result, signal, strategy, order_type=params.order_type, execution_id=execution_id)
        self.risk.record_order(strategy)  # reserved before any await: concurrent requests see it
        if self.risk.reduce_only_required(params.instrument_id):
            params = dataclasses.replace(params, reduce_only=True)
        return await self.place_order(
            params,
            strategy_id=strategy,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            execution_id=execution_id,
            arrival_price=self.risk.prices.get(params.instrument_id, result.reference_price),
        )

    async def _refuse(
        self,
        result: RiskCheckResult,
        signal: Signal,
        strategy: str,
        *,
        order_type: OrderType | None = None,
        execution_id: int | None = None,
    ) -> None:
        """Store the refused order (rejected, never sent, with the risk code and reason) and its event; raise."""
        log.info("order refused by the pre-trade checks: %s %s", result.code, result.reason)
        order = await self.orders.record_refused(
            signal,
            code=str(result.code),
            reason=result.reason or "",
            order_type=order_type or (OrderType.LIMIT if signal.price is not None else OrderType.MARKET),
            size=signal.size or result.size or Decimal(0),
            strategy_id=strategy,
            execution_id=execution_id,
        )
        record_event(
            self.session,
            ExecutionEventType.RISK_CHECK_FAILED,
            order=order,
            instrument_id=signal.instrument_id,
            strategy_id=strategy,
            data={"code": result.code, "reason": result.reason, "signal": signal.model_dump(mode="json")},
        )
        await self.session.commit()
        raise RiskRejected(result, order_id=order.id)

    # --- placing ------------------------------------------------------------------------------------------

    async def place_order(
        self,
        params: OrderParams,
        *,
        strategy_id: str | None = None,
        execution_id: int | None = None,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        arrival_price: Decimal | None = None,
    ) -> Order:
        await self.okx.ensure_time_synced()  # the expTime below is on OKX's clock
        exp_time_ms = self.okx.new_exp_time_ms()
        order = await self.orders.create_order(
            params,
            strategy_id=strategy_id,
            execution_id=execution_id,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            arrival_price=arrival_price,
            submit_expires_at=datetime.fromtimestamp(exp_time_ms / 1000, tz=UTC),
            submitted_at=utcnow(),
            commit=True,  # the write-ahead row exists before the exchange hears of the order
        )
        with log_context(
            order_id=order.id,
            client_order_id=order.client_order_id,
            instrument_id=order.instrument_id,
            strategy_id=order.strategy_id,
        ):
            return await self._send(order, params, exp_time_ms)

    async def _send(self, order: Order, params: OrderParams, exp_time_ms: int) -> Order:
        """Send a written-ahead order and apply the exchange's answer (`place_order`'s second half)."""
        order_id = order.id
        if self.risk.trading_state is TradingState.HALTED:  # halted while this order was being written: not sent
            order = await self.orders.lock(order_id)
            await self.orders.transition(
                order,
                OrderTrigger.REJECTED,
                error_code="trading_halted",
                error_message="trading was halted before the order was sent",
            )
            await self.session.commit()
            return order
        if self.tracker is not None:  # before sending: a push may beat the answer
            await self.tracker.start_tracking(
                order_id, instrument_id=order.instrument_id, client_order_id=order.client_order_id
            )
        request = OrderRequest(
            inst_id=params.instrument_id,
            td_mode=str(params.trade_mode),
            side=str(params.side),
            ord_type=str(params.order_type),
            sz=params.size,
            px=params.price,
            cl_ord_id=order.client_order_id,
            pos_side=str(params.position_side) if params.position_side else None,
            tgt_ccy=params.target_currency,
            reduce_only=params.reduce_only or None,
        )
        sent = time.perf_counter()
        if (received := WORK_RECEIVED_AT.get()) is not None:
            INTERNAL_OVERHEAD.observe(sent - received)
        log.info("order sent: %s %s %s %s", params.side.value, params.size, params.instrument_id, params.order_type)
        try:
            ack = await self.okx.trade.place_order(request, exp_time_ms=exp_time_ms)
            SUBMIT_SECONDS.observe(time.perf_counter() - sent)
        except OKXOutcomeUnknown as exc:
            log.warning("order outcome unknown, reconciling: %s", exc.message)
            order, stored = await self._store_answer(order, OrderTrigger.SUBMIT_OUTCOME_UNKNOWN, exc)
            if not stored:
                return order
            try:
                return await self._canceled_if_asked(await self.reconcile_order(order))
            except OKXError:
                return order  # still unknown: the tracker's reconciliation settles it once the exchange answers
            except UNAVAILABLE as db_exc:  # stored as unknown; what the exchange said is the tracker's to apply
                return await self._unrecorded(order, None, db_exc)
        except OKXRateLimitError as exc:
            log.warning("order not sent, OKX rate limit: %s", exc.message)
            # Over OKX's rate limit: nothing was placed. The order is closed as rejected and its idempotency key
            # released, so the caller (told 429) may send the same order again with the same key. With the database
            # busy meanwhile the caller is still told 429, not 503: the row stays written ahead, its key held, until
            # the tracker finds it never placed (`failed` once its expTime has passed).
            try:
                order = await self.orders.lock(order_id)
                await self.orders.transition(
                    order, OrderTrigger.REJECTED, error_code=exc.code, error_message=exc.message
                )
                order.idempotency_key = None
                await self.session.commit()
            except UNAVAILABLE as db_exc:
                order = await self._unrecorded(
                    order, OrderTrigger.REJECTED, db_exc, error_code=exc.code, error_message=exc.message
                )
            raise ExchangeRateLimited(
                exc.message, okx_code=exc.code, order_id=order.id, client_order_id=order.client_order_id
            ) from exc
        except OKXAPIError as exc:
            SUBMIT_SECONDS.observe(time.perf_counter() - sent)
            log.warning("order rejected by OKX: %s %s", exc.code, exc.message)
            order, _ = await self._store_answer(order, OrderTrigger.REJECTED, exc)
            return order
        try:
            order = await self.orders.acknowledge(order_id, ack.ord_id, commit=True)
        except UNAVAILABLE as exc:
            order.exchange_order_id = ack.ord_id
            return await self._unrecorded(order, OrderTrigger.ACCEPTED, exc)
        with log_context(exchange_order_id=ack.ord_id):
            log.info("order acknowledged: %s", order.status.value)
        if self.tracker is not None:
            self.tracker.note(order)
        return await self._canceled_if_asked(order)

    async def _canceled_if_asked(self, order: Order) -> Order:
        """A cancel asked while this order was on its way found nothing to cancel on the exchange (51400) and left
        it `pending_cancel`: now that the exchange has it, the cancel goes again (`cancel_again`), or the order
        would stay working there, free to fill (the kill switch's cancel-all included)."""
        if not await cancel_again(self.okx, order):
            return order
        try:
            return await self.reconcile_order(order)
        except OKXError:
            return order  # the exchange's push settles it
        except UNAVAILABLE:  # placed and its cancel sent: not a 503; the push or the tracker stores the rest
            with contextlib.suppress(SQLAlchemyError):
                await self.session.rollback()
            return order

    async def _store_answer(self, order: Order, trigger: OrderTrigger, answer: OKXError) -> tuple[Order, bool]:
        """The exchange's answer (a refusal, or none: outcome unknown) moved onto the order and committed; the order
        as the caller is to be told of it, and whether it was stored (`_unrecorded` when the database is not there)."""
        current = order
        try:
            current = await self.orders.lock(order.id)
            await self.orders.transition(current, trigger, error_code=answer.code, error_message=answer.message)
            await self.session.commit()
        except UNAVAILABLE as exc:
            unstored = await self._unrecorded(
                current, trigger, exc, error_code=answer.code, error_message=answer.message
            )
            return unstored, False
        return current, True

    async def _unrecorded(
        self,
        order: Order,
        trigger: OrderTrigger | None,
        exc: SQLAlchemyError,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Order:
        """The exchange has answered (accepted, refused) or may have the order (outcome unknown), and that could
        not be stored: the database busy or gone. The caller is told what the exchange said, not 503: a 503 says
        nothing was placed, which may be untrue, and a caller retrying without an idempotency key would place it
        twice (CI load, 2026-12-07: under overload, 49 orders whose outcome was unknown or refused were answered
        503 `database_busy`). Nothing is guessed: the row keeps its stored status (a read may show it so for a
        moment), and the tracker, which follows it as never acknowledged, brings it up to date from the exchange's
        push or by clOrdId (`TradeExecutor._send` registers it before sending; a leader adopts it)."""
        with log_context(exchange_order_id=order.exchange_order_id):
            log.warning("order answered by the exchange, the answer not stored (the tracker will apply it): %s", exc)
        if order in self.session:  # the general path: keep what was read before the session rolls back
            self.session.expunge(order)
        with contextlib.suppress(SQLAlchemyError):
            await self.session.rollback()
        if trigger is not None:
            order.status = next_status(order.status, trigger, has_fills=False) or order.status
        if error_code is not None:
            order.error_code, order.error_message = error_code, error_message
        return order

    # --- reconciliation -----------------------------------------------------------------------------------

    async def reconcile_order(self, order: Order) -> Order:
        """Ask the exchange about the order by clOrdId and apply the answer, fills included."""
        order = await self.sync.reconcile(order, self.clock())
        await self.session.commit()
        if self.tracker is not None:
            self.tracker.note(order)
        return order

    async def replayed(self, order: Order) -> Order:
        """The order a request sent again with its idempotency key finds. Its client sends it again because it
        never heard back (a timeout, a reset, the service restarted), so an order never acknowledged is asked
        about now rather than shown as stored: placed, it comes back with the exchange's state; absent once its
        expTime has passed, it is `failed` (never placed: the client may send a new order). Absent before then it
        stays as it is, since the first request may still reach the exchange. The order is never sent again from
        here: only the client knows whether it still wants it (the price has moved since)."""
        if not order.awaits_acknowledgement:
            return order
        try:
            return await self.reconcile_order(order)
        except OKXError as exc:  # the exchange unreachable: answered as stored; the tracker settles it later
            log.warning("a replayed order could not be asked about: %s", exc)
            return order

    # --- cancel / amend -----------------------------------------------------------------------------------

    async def _get(self, order_id: int) -> Order:
        order = await self.orders.get_order(order_id)
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist")
        return await self.orders.lock(order_id)

    async def cancel_order(self, order_id: int) -> Order:
        """Ask the exchange to cancel; the order is pending_cancel until the exchange says canceled (or filled)."""
        order = await self._get(order_id)
        if order.status.is_terminal:
            raise OrderNotCancelable(f"order {order_id} is already {order.status.value}")
        await self.orders.transition(order, OrderTrigger.CANCEL_REQUESTED)
        await self.session.commit()
        try:
            await self.okx.trade.cancel_order(
                order.instrument_id, ord_id=order.exchange_order_id, cl_ord_id=order.client_order_id
            )
        except OKXOrderAlreadyFinished:
            # Filled or canceled meanwhile (or never there): the exchange's state decides below.
            pass
        except OKXError as exc:
            order = await self.orders.lock(order_id)
            await self.orders.transition(
                order, OrderTrigger.CANCEL_REFUSED, error_code=exc.code, error_message=exc.message
            )
            await self.session.commit()
            raise
        return await self.reconcile_order(order)

    async def cancel_all(self, instrument_id: str | None = None) -> CancelAllResult:
        """Cancel every open order (of one instrument, if given), one by one: one refusal does not stop the rest,
        and each outcome is reported (the kill switch and the operator's `cancel-all`)."""
        result = CancelAllResult()
        for order in await self.orders.get_active_orders(instrument_id):
            try:
                result.canceled.append(await self.cancel_order(order.id))
            except (OrderNotCancelable, OKXError) as exc:
                log.warning("cancel-all: order %s not canceled: %s", order.id, exc)
                result.failed.append((order.id, str(exc)))
        return result

    async def modify_order(
        self, order_id: int, *, new_size: Decimal | None = None, new_price: Decimal | None = None
    ) -> Order:
        """Amend size (total, filled part included) and/or price; the exchange's answer is applied by reconciling."""
        order = await self._get(order_id)
        if order.status.is_terminal:
            raise OrderNotCancelable(f"order {order_id} is already {order.status.value}")
        await self.session.commit()  # no row lock held across the exchange's calls below
        amend = AmendRequest(
            inst_id=order.instrument_id,
            ord_id=order.exchange_order_id,
            cl_ord_id=None if order.exchange_order_id else order.client_order_id,
            new_sz=new_size,
            new_px=new_price,
        )
        with contextlib.suppress(OKXOutcomeUnknown):  # the reconciliation below finds out what the exchange holds
            await self.okx.trade.amend_order(amend)
        return await self.reconcile_order(order)
