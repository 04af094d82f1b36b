"""`TradingRuntime`: the long-lived trading parts the service starts and stops with its lifespan.

- the risk control's in-memory view: instrument rules (refreshed every few minutes) and last prices (every few
  seconds), read from the exchange so that `pre_trade_check` never does I/O;
- the `OrderTracker` (start-up reconciliation, then pushes and gap fills);
- the dead-man switch (OKX's cancel-all-after, re-armed while the tracker is healthy), on by default in `live`;
- the kill switch: the trading state, and halting cancels every open order.
Stopping cancels every task it started and disarms the dead-man switch: nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.base import utcnow
from app.models.trading import (
    Execution,
    ExecutionAlgorithm,
    ExecutionEventType,
    ExecutionStatus,
    OrderStatus,
    TrackerLag,
    TradeDailySummary,
)
from app.services.okx.client import OKXClient
from app.services.okx.deadman import DeadManSwitch
from app.services.okx.errors import OKXError
from app.services.trading.admission import FillLagGate, OrderAdmission
from app.services.trading.daily_summary import EXACT
from app.services.trading.errors import NotLeader
from app.services.trading.events import listen_committed
from app.services.trading.execution_strategies import (
    IcebergExecution,
    LimitExecution,
    MarketExecution,
    TWAPExecution,
)
from app.services.trading.execution_strategies.base import ExecutionStrategy
from app.services.trading.executor import CancelAllResult, TradeExecutor
from app.services.trading.kill_switch import record_trading_state, stored_trading_state
from app.services.trading.leadership import Leadership, engine_of
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.position_manager import PositionManager
from app.services.trading.reconciliation import reconcile_with_exchange
from app.services.trading.risk import ExecutionRiskControl, InstrumentRules, TradingState
from app.services.trading.signal import Account
from app.tasks import stop_tasks

__all__ = ["STRATEGIES", "TradingRuntime"]

log = logging.getLogger(__name__)

INSTRUMENT_TYPES = ("SPOT", "SWAP")
# The leader writes how far its fills are behind the exchange this often, and the standbys read it as often; a
# report older than LAG_REPORT_STALE_S is no report (the leader is gone or stuck: failover and /ready cover that).
LAG_REPORT_S = 0.5
LAG_REPORT_STALE_S = 3.0
STRATEGIES: dict[ExecutionAlgorithm, type[ExecutionStrategy]] = {
    ExecutionAlgorithm.MARKET: MarketExecution,
    ExecutionAlgorithm.LIMIT: LimitExecution,
    ExecutionAlgorithm.TWAP: TWAPExecution,
    ExecutionAlgorithm.ICEBERG: IcebergExecution,
}


_ORDER_MOVES = frozenset(
    {ExecutionEventType.ORDER_STATUS_CHANGED, ExecutionEventType.ORDER_CANCELED, ExecutionEventType.ORDER_REJECTED}
)
_FINAL_STATUSES = frozenset(status.value for status in OrderStatus if status.is_terminal)


_REPORT_LAG = (
    pg_insert(TrackerLag)
    .values(id=1, behind_s=bindparam("behind_s"), reported_at=func.clock_timestamp())
    .on_conflict_do_update(
        index_elements=[TrackerLag.id],
        set_={"behind_s": bindparam("behind_s"), "reported_at": func.clock_timestamp()},
    )
)
_READ_LAG = select(
    TrackerLag.behind_s, func.extract("epoch", func.clock_timestamp() - TrackerLag.reported_at).label("age_s")
).where(TrackerLag.id == 1)


class TradingRuntime:
    def __init__(
        self,
        okx_client: OKXClient,
        session_factory: async_sessionmaker[AsyncSession],
        risk: ExecutionRiskControl,
        *,
        ws_private_url: str | None,
        dead_man_timeout_s: int | None = None,
        tracker_poll_interval_s: float = 5.0,
        price_refresh_s: float = 2.0,
        instrument_refresh_s: float = 300.0,
        leadership: Leadership | None = None,
        reconcile_interval_s: float = 60.0,
        max_fill_lag_s: float = 0.0,
    ) -> None:
        self.okx = okx_client
        self.session_factory = session_factory
        self.risk = risk
        self.tracker = OrderTracker(
            okx_client,
            None,
            session_factory=session_factory,
            ws_url=ws_private_url,
            poll_interval_s=tracker_poll_interval_s,
        )
        self.dead_man = (
            DeadManSwitch(
                okx_client.trade,
                timeout_s=dead_man_timeout_s,
                interval_s=max(1.0, dead_man_timeout_s / 6),
                is_healthy=self.healthy,
            )
            if dead_man_timeout_s
            else None
        )
        self.price_refresh_s = price_refresh_s
        self.instrument_refresh_s = instrument_refresh_s
        self._tasks: list[asyncio.Task[None]] = []
        self.started = asyncio.Event()
        self.account = Account(equity=Decimal(0))  # what the risk checks read; refreshed with the prices
        # Executions being worked by this process: id -> (task, strategy).
        self.executions: dict[int, tuple[asyncio.Task[list[Any]], ExecutionStrategy]] = {}
        self._stop_listening: Callable[[], None] = lambda: None
        self.leadership = leadership or Leadership(engine_of(session_factory))
        self.leading = asyncio.Event()  # set while this replica leads
        self.reconcile_interval_s = reconcile_interval_s
        self.last_reconciliation: list[dict[str, Any]] = []
        self._trading_state_event_id = 0  # the newest recorded kill-switch change applied here
        # The leader's last report (`tracker_lag`) as a standby read it: seconds behind, and when it was valid.
        self._leader_lag: tuple[float, float] | None = None  # (behind_s, time.monotonic() the report was made)
        # What the API's new orders pass first: this replica started, then the fills' lag (`MAX_FILL_LAG_S`; 0:
        # nothing held).
        self.fill_gate = FillLagGate(self.fill_lag_s, limit_s=max_fill_lag_s)
        self.admission = OrderAdmission(lambda: self.started.is_set(), self.fill_gate)

    def fill_lag_s(self) -> float:
        """How far the fills and positions of the database are behind what the exchange has pushed: the oldest
        push this replica's tracker has not applied yet if it leads; on a standby, the leader's last report (up to
        ~1 s late), or 0 when there is none fresh."""
        if self.leadership.is_leader:
            return self.tracker.behind_s()
        if self._leader_lag is None:
            return 0.0
        behind, reported = self._leader_lag
        return behind if time.monotonic() - reported <= LAG_REPORT_STALE_S else 0.0

    def tracker_problem(self, grace_s: float) -> str | None:
        """Why this replica is not ready because of its order tracker, or None. A standby runs no tracker."""
        if not self.leadership.is_leader:
            return None
        status = self.tracker.status
        if status.seconds_disconnected is not None and status.seconds_disconnected > grace_s:
            return (
                f"the order tracker's WebSocket has been down for {status.seconds_disconnected:.0f} s "
                f"(grace {grace_s:g} s); orders are polled by REST meanwhile"
            )
        return None

    def current_account(self) -> Account:
        """What the risk checks read now (replaced, not changed, at each refresh)."""
        return self.account

    @property
    def tracker_for_new_orders(self) -> OrderTracker | None:
        """The tracker an order placed here registers with: this replica's while it leads. A standby's does not run
        (the leader follows every replica's orders, found by clOrdId): orders registered with it would only pile up,
        never finished by a push, to be reconciled one by one by REST when it takes the lead (a failover at 200/s
        then applied no push for over a minute)."""
        return self.tracker if self.leadership.is_leader else None

    def healthy(self) -> bool:
        """Healthy enough to keep our orders working: the tracker hears the exchange."""
        return self.tracker.status.websocket_connected

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start in the background: the service answers (/health, /ready saying why it is not ready) even while
        the database or the exchange is still unreachable; start-up is retried until it succeeds."""
        self.started = asyncio.Event()
        self._stop_listening = listen_committed(self._on_committed_event)
        self._tasks = [asyncio.create_task(self._start_with_retries(), name="trading-start")]

    async def _start_with_retries(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._refresh_trading_state()  # a halt recorded before a restart holds from the first order
                await self._refresh_instruments()
                await self._refresh_prices(required=True)
                break
            except Exception:
                log.exception("trading runtime: start-up failed, retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self._tasks += [
            asyncio.create_task(self._every(self.price_refresh_s, self._refresh_prices), name="risk-prices"),
            asyncio.create_task(self._every(self.instrument_refresh_s, self._refresh_instruments), name="risk-rules"),
            asyncio.create_task(self._lead(), name="trading-lead"),
        ]
        if engine_of(self.session_factory).dialect.name == "postgresql":  # one process on SQLite: nothing to share
            self._tasks.append(asyncio.create_task(self._share_fill_lag(), name="fill-lag"))
        # A replica that can lead at once (always on SQLite) is started once it leads; a standby serves at once.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.leadership.retry_s * 2):
                await self.leading.wait()
        self.started.set()

    async def _lead(self) -> None:
        """Lead whenever this replica holds the lock: the tracker (with start-up reconciliation of every open
        order), executions left running, the dead-man switch. Stand by again if the lock is lost."""
        while True:
            await self.leadership.acquire()
            try:
                delay = 1.0
                while True:
                    try:
                        await self.tracker.start()  # reconciles every open order of the database
                        await self._resume_executions()  # executions a previous leader left running carry on
                        break
                    except Exception:
                        log.exception("trading runtime: taking the lead failed, retrying in %.0f s", delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 30.0)
                if self.dead_man is not None:
                    await self.dead_man.start()
                self.leading.set()
                reconciling = asyncio.create_task(
                    self._every(self.reconcile_interval_s, self.reconcile), name="trading-reconcile"
                )
                try:
                    await self.leadership.watch()
                finally:
                    await stop_tasks([reconciling])
            finally:
                self.leading.clear()
                await self._stand_down()

    async def _share_fill_lag(self) -> None:
        """Every LAG_REPORT_S: the leader writes `fill_lag_s()` into `tracker_lag`, a standby reads it. A failure
        (the database) is logged once until it passes, and the standby's last reading ages out meanwhile."""
        failing = False
        while True:
            await asyncio.sleep(LAG_REPORT_S)
            try:
                async with self.session_factory() as session:
                    if self.leadership.is_leader:
                        await session.execute(_REPORT_LAG, {"behind_s": self.tracker.behind_s()})
                        await session.commit()
                    else:
                        row = (await session.execute(_READ_LAG)).first()
                        await session.commit()
                        if row is not None:
                            self._leader_lag = (row.behind_s, time.monotonic() - float(row.age_s))  # EXTRACT: numeric
            except Exception as exc:
                if not failing:
                    log.warning("trading runtime: sharing the fills' lag failed, will retry: %s", exc)
                failing = True
            else:
                failing = False

    async def reconcile(self) -> list[dict[str, Any]]:
        """The leader's regular check against the exchange (reconciliation.py): open orders, then positions, each
        difference corrected and recorded as an event. Returns the position differences."""
        # Spot "positions" are this service's own fills, and balances also hold deposits: comparing them every
        # minute would only repeat the same note (POST /positions/sync still reports them on demand).
        result = await reconcile_with_exchange(
            self.okx, self.session_factory, self.tracker, compare_spot_holdings=False
        )
        if result.differences:
            log.warning(
                "reconciliation: %d order and %d position difference(s) corrected: %s %s",
                len(result.orders),
                len(result.positions),
                result.orders,
                result.positions,
            )
        self.last_reconciliation = result.positions
        return result.positions

    async def _stand_down(self) -> None:
        """Stop the leader's work (leadership lost, or stopping): executions stay `running` for the next leader."""
        for execution_id, (task, _) in list(self.executions.items()):
            task.cancel()
            self.executions.pop(execution_id, None)
        if self.dead_man is not None:
            await self.dead_man.stop(disarm=False)
        await self.tracker.stop()
        await self.leadership.release()

    def _on_committed_event(self, event_type: ExecutionEventType, data: dict[str, Any]) -> None:
        if event_type in _ORDER_MOVES and data.get("to") in _FINAL_STATUSES:
            self.risk.order_finished()

    async def stop(self) -> None:
        self._stop_listening()
        # Every running execution is told to stop at once, then given a bounded time together.
        await asyncio.gather(
            *(self.cancel_execution(execution_id, wait_s=5.0) for execution_id in list(self.executions))
        )
        if self.dead_man is not None and self.leadership.is_leader:
            await self.dead_man.stop(disarm=True)
        await stop_tasks(self._tasks)
        self._tasks = []
        await self.admission.stop()
        await self.tracker.stop()
        await self.leadership.release()

    @staticmethod
    async def _every(seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:  # a refresh that fails (database, exchange) is retried next time, never dropped
                log.exception(
                    "trading runtime: %s failed; retrying in %.0f s", getattr(action, "__name__", action), seconds
                )

    async def _refresh_instruments(self) -> None:
        for inst_type in INSTRUMENT_TYPES:
            try:
                instruments = await self.okx.public.instruments(inst_type, refresh=True)
            except OKXError as exc:
                log.warning("risk: instruments of %s not refreshed: %s", inst_type, exc)
                continue
            for instrument in instruments.values():
                self.risk.set_instrument(InstrumentRules.from_okx(instrument))

    async def _refresh_account(self, *, required: bool = False) -> None:
        """Equity and balances from the exchange; positions and today's realized PnL from the database. At start-up
        (`required`) a failure is raised, for the start to be retried: a replica must not say it has started while
        its risk checks would read an equity of 0."""
        try:
            balance = await self.okx.account.get_balance()
        except OKXError as exc:
            if required:
                raise
            log.warning("risk: balances not refreshed: %s", exc)
            return
        async with self.session_factory() as session:
            positions = await PositionManager(session).get_all_positions()
            # From the daily summaries (one row per instrument, strategy and fee currency), not today's trades:
            # this runs every few seconds, and a busy day has a million trades.
            today = select(TradeDailySummary.realized_pnl).where(TradeDailySummary.day == utcnow().date())
            with localcontext(EXACT):
                daily = sum((await session.execute(today)).scalars(), Decimal(0))
            open_orders = await OrderManager(session).count_active_orders()
        net: dict[str, Decimal] = {}
        for position in positions:  # long/short mode has two rows per instrument: the risk checks read the net
            net[position.instrument_id] = net.get(position.instrument_id, Decimal(0)) + position.size
        self.account = Account(
            equity=balance.total_eq or Decimal(0),
            available={detail.ccy: detail.available for detail in balance.details},
            daily_realized_pnl=daily,
            positions=net,
        )
        self.risk.set_open_orders(open_orders)

    async def _refresh_prices(self, *, required: bool = False) -> None:
        """The trading state, the account and every instrument's price; at start-up (`required`) the account's
        failure is raised, for the start to be retried (a type of instrument whose prices fail only lacks them)."""
        await self._refresh_trading_state()
        await self._refresh_account(required=required)
        for inst_type in INSTRUMENT_TYPES:
            try:
                tickers = await self.okx.market.get_tickers(inst_type)
            except OKXError as exc:
                log.warning("risk: prices of %s not refreshed: %s", inst_type, exc)
                continue
            for ticker in tickers:
                price = ticker.last or ticker.mid
                if price is not None:
                    self.risk.set_price(ticker.inst_id, price)

    # --- the kill switch ----------------------------------------------------------------------------------

    async def set_trading_state(self, state: TradingState, *, reason: str = "", source: str = "api") -> int:
        """Set active / reducing / halted; halting also cancels every open order. Returns how many it canceled.
        The state is recorded (kill_switch.py), so every replica and a restart follow it."""
        previous = self.risk.trading_state
        self.risk.set_trading_state(state)
        async with self.session_factory() as session:
            event_id = await record_trading_state(session, previous, state, reason=reason, source=source)
            await session.commit()
        self._trading_state_event_id = max(self._trading_state_event_id, event_id)
        if state is not TradingState.HALTED:
            return 0
        return len((await self._cancel_open_orders()).canceled)

    async def _cancel_open_orders(self) -> CancelAllResult:
        async with self.session_factory() as session:
            return await TradeExecutor(self.okx, OrderManager(session), self.risk, self.tracker).cancel_all()

    async def _refresh_trading_state(self) -> None:
        """Follow a state recorded elsewhere (another replica, the operator CLI, before a restart). A halt made
        elsewhere is also enforced here by the leader: it cancels what is still open (the CLI cannot reach a
        simulator that lives inside this process)."""
        async with self.session_factory() as session:
            stored = await stored_trading_state(session)
        if stored is None or stored.event_id <= self._trading_state_event_id:
            return
        previous = self.risk.trading_state
        self._trading_state_event_id = stored.event_id
        self.risk.set_trading_state(stored.state)
        if stored.state is not previous:
            log.warning("kill switch: trading is %s (was %s): %s", stored.state.value, previous.value, stored.reason)
        if stored.state is TradingState.HALTED and previous is not TradingState.HALTED and self.leadership.is_leader:
            await self._cancel_open_orders()

    # --- executions ---------------------------------------------------------------------------------------

    async def start_execution(
        self, algorithm: ExecutionAlgorithm, config: dict[str, Any], params: OrderParams, strategy_id: str | None
    ) -> Execution:
        """Record the parent execution and work it in the background (its children risk-checked against the
        account); ValueError for a config or order the strategy cannot take. Executions run on the leading
        replica only (it alone resumes them after a restart), so a standby refuses with `NotLeader`."""
        if not self.leadership.is_leader:
            raise NotLeader("executions run on the leading replica; this one is on standby: retry (or ask the leader)")
        strategy, session = self._strategy(algorithm, config)  # (an unused session holds no connection)
        try:
            execution = await strategy.begin(params, strategy_id=strategy_id)
        except BaseException:
            await session.close()
            raise
        self._work(execution.id, strategy, session, strategy.run())
        return execution

    def _strategy(self, algorithm: ExecutionAlgorithm, config: dict[str, Any]) -> tuple[ExecutionStrategy, Any]:
        session = self.session_factory()
        executor = TradeExecutor(self.okx, OrderManager(session), self.risk, self.tracker)
        return STRATEGIES[algorithm](executor, config, account=lambda: self.account), session

    def _work(self, execution_id: int, strategy: ExecutionStrategy, session: Any, job: Awaitable[list[Any]]) -> None:
        async def work() -> list[Any]:
            try:
                return await job
            finally:
                self.executions.pop(execution_id, None)
                await session.close()

        self.executions[execution_id] = (asyncio.create_task(work(), name=f"execution-{execution_id}"), strategy)

    async def _resume_executions(self) -> int:
        async with self.session_factory() as session:
            running = (
                (await session.execute(select(Execution).where(Execution.status == ExecutionStatus.RUNNING)))
                .scalars()
                .all()
            )
        for stored in running:
            if stored.id in self.executions:
                continue
            strategy, session = self._strategy(stored.algorithm, stored.config)
            execution = await session.get(Execution, stored.id)
            assert execution is not None
            log.info("resuming execution %s (%s)", execution.id, execution.algorithm.value)
            self._work(execution.id, strategy, session, strategy.resume(execution))
        return len(running)

    async def cancel_execution(self, execution_id: int, *, wait_s: float = 10.0) -> bool:
        """Ask a running execution to stop and wait (bounded) for it to cancel its working child."""
        entry = self.executions.get(execution_id)
        if entry is None:
            return False
        task, strategy = entry
        strategy.cancel()
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(task)
        except TimeoutError:
            log.warning("execution %s did not stop within %.0f s", execution_id, wait_s)
        except Exception:  # the execution's own failure is recorded on it; the cancel itself succeeded
            log.exception("execution %s ended with an error while stopping", execution_id)
        return True
