"""Trading records: orders, their fills (trades), positions, parent executions and the audit log of events.

The database itself enforces DESIGN.md §4 where it can: one row per client order id, per exchange order id, per
(instrument, exchange trade id) and per (instrument, position side), so that even several service replicas can
never store an order or a fill twice.

Conventions: money columns are `ExactDecimal`; sizes are in the instrument's own unit (base currency for SPOT,
contracts for SWAP/FUTURES, as OKX counts them); `fee` is the cost charged (positive = paid, negative = rebate,
the opposite of OKX's sign); timestamps are UTC and end in `_at`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK, TimestampMixin, utcnow
from app.models.types import ExactDecimal, JSONDocument, UTCDateTime, str_enum

__all__ = [
    "Execution",
    "ExecutionAlgorithm",
    "ExecutionEvent",
    "ExecutionEventType",
    "ExecutionStatus",
    "InstrumentType",
    "Liquidity",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionSide",
    "TrackerLag",
    "Trade",
    "TradeDailySummary",
    "TradeMode",
]


def _where_set(column: str) -> dict[str, Any]:
    """An index of only the rows where `column` is set. Both databases index NULLs, and an order has no exchange id
    until acknowledged, most have no idempotency key and no parent execution, most events no execution: each such
    row version (every UPDATE of an order writes one) would add an index entry that no lookup (`= value`) reads.
    Unique where set is what a unique column was: NULLs never collided."""
    condition = text(f"{column} IS NOT NULL")
    return {"postgresql_where": condition, "sqlite_where": condition}


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """OKX `ordType` values."""

    MARKET = "market"
    LIMIT = "limit"
    POST_ONLY = "post_only"
    FOK = "fok"
    IOC = "ioc"
    OPTIMAL_LIMIT_IOC = "optimal_limit_ioc"


class OrderStatus(StrEnum):
    """The order lifecycle of DESIGN.md §4 (its transition table lives in the trading services)."""

    PENDING_SUBMIT = "pending_submit"
    UNKNOWN = "unknown"
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_ORDER_STATUSES


_TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.EXPIRED}
)


class TradeMode(StrEnum):
    """OKX `tdMode`."""

    CASH = "cash"
    CROSS = "cross"
    ISOLATED = "isolated"


class PositionSide(StrEnum):
    """OKX `posSide`: `net` in net mode, `long`/`short` in long/short mode."""

    NET = "net"
    LONG = "long"
    SHORT = "short"


class InstrumentType(StrEnum):
    SPOT = "SPOT"
    MARGIN = "MARGIN"
    SWAP = "SWAP"
    FUTURES = "FUTURES"
    OPTION = "OPTION"


class Liquidity(StrEnum):
    """Maker or taker side of a fill (OKX `execType` M / T)."""

    MAKER = "maker"
    TAKER = "taker"


class ExecutionAlgorithm(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    TWAP = "twap"
    ICEBERG = "iceberg"


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"
    FAILED = "failed"


class ExecutionEventType(StrEnum):
    ORDER_CREATED = "order_created"
    ORDER_STATUS_CHANGED = "order_status_changed"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELED = "order_canceled"
    ORDER_REJECTED = "order_rejected"
    ORDER_RECONCILED = "order_reconciled"
    POSITION_OPENED = "position_opened"
    POSITION_UPDATED = "position_updated"
    POSITION_CLOSED = "position_closed"
    POSITION_SYNCED = "position_synced"
    RISK_CHECK_FAILED = "risk_check_failed"
    RECONCILIATION_DIFFERENCE = "reconciliation_difference"
    KILL_SWITCH_CHANGED = "kill_switch_changed"
    EXECUTION_STARTED = "execution_started"
    EXECUTION_PROGRESS = "execution_progress"
    EXECUTION_FINISHED = "execution_finished"


class Execution(TimestampMixin, Base):
    """A parent order worked by an execution strategy (market, limit, TWAP, iceberg) through child orders."""

    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    algorithm: Mapped[ExecutionAlgorithm] = mapped_column(str_enum(ExecutionAlgorithm), nullable=False)
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus), nullable=False, default=ExecutionStatus.PENDING
    )
    instrument_id: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[OrderSide] = mapped_column(str_enum(OrderSide), nullable=False)
    target_size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    filled_size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    average_fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    arrival_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    slices_total: Mapped[int | None] = mapped_column(Integer)
    slices_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_slice_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    strategy_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    orders: Mapped[list[Order]] = relationship(back_populates="execution", order_by="Order.id")

    __table_args__ = (
        Index("ix_executions_status", "status"),
        Index("ix_executions_instrument_id_created_at", "instrument_id", "created_at"),
        Index("ix_executions_strategy_id_created_at", "strategy_id", "created_at"),
    )


class Order(TimestampMixin, Base):
    """One order as sent to the exchange; written before the first byte goes out (DESIGN.md §4)."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # OKX clOrdId (1–32 alphanumerics). NULL only for an exchange order found at reconciliation without one.
    client_order_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    # OKX ordId, known once the exchange acknowledged the order. Unique where set (`__table_args__`).
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    # The caller's idempotency key (its client_order_id or Idempotency-Key header) and a hash of its request. Unique
    # where set.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))

    instrument_id: Mapped[str] = mapped_column(String(64), nullable=False)
    instrument_type: Mapped[InstrumentType] = mapped_column(
        str_enum(InstrumentType), nullable=False, default=InstrumentType.SPOT
    )
    side: Mapped[OrderSide] = mapped_column(str_enum(OrderSide), nullable=False)
    order_type: Mapped[OrderType] = mapped_column(str_enum(OrderType), nullable=False)
    trade_mode: Mapped[TradeMode] = mapped_column(str_enum(TradeMode), nullable=False, default=TradeMode.CASH)
    position_side: Mapped[PositionSide | None] = mapped_column(str_enum(PositionSide))
    target_currency: Mapped[str | None] = mapped_column(String(16))  # OKX tgtCcy: base_ccy / quote_ccy
    reduce_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    filled_size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    average_fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    # Mid or last price when the order was decided, the reference for slippage.
    arrival_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())

    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus), nullable=False, default=OrderStatus.PENDING_SUBMIT
    )
    # OKX sCode/sMsg for an exchange rejection, the risk code and reason for a denial, or the reconciliation
    # outcome for a failed order.
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)

    strategy_id: Mapped[str | None] = mapped_column(String(64))
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id"))
    # Found on the exchange without being created here (recorded and flagged at reconciliation).
    is_external: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    # OKX expTime sent with the request: after it (plus clock margin) a not-found order can never appear.
    submit_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # OKX uTime of the newest exchange state applied, so older pushes are recognised.
    exchange_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    execution: Mapped[Execution | None] = relationship(back_populates="orders")
    trades: Mapped[list[Trade]] = relationship(back_populates="order", order_by="Trade.id")

    __table_args__ = (
        Index("uq_orders_exchange_order_id", "exchange_order_id", unique=True, **_where_set("exchange_order_id")),
        Index("uq_orders_idempotency_key", "idempotency_key", unique=True, **_where_set("idempotency_key")),
        Index("ix_orders_instrument_id_status", "instrument_id", "status"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_strategy_id_created_at", "strategy_id", "created_at"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_execution_id", "execution_id", **_where_set("execution_id")),
    )

    @property
    def awaits_acknowledgement(self) -> bool:
        """Never acknowledged by the exchange and not finished: no push will settle it, so it is asked about."""
        return self.exchange_order_id is None and not self.status.is_terminal


class Trade(Base):
    """One fill, stored once: unique on (instrument, exchange trade id)."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), nullable=False)
    exchange_trade_id: Mapped[str] = mapped_column(String(64), nullable=False)
    instrument_id: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[OrderSide] = mapped_column(str_enum(OrderSide), nullable=False)
    price: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    # 1 for spot, ctVal for linear contracts: the fill's notional is price × size × contract_multiplier.
    contract_multiplier: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(1))
    fee: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    liquidity: Mapped[Liquidity | None] = mapped_column(str_enum(Liquidity))
    # PnL of the part of the position this fill closed, net of this fill's fee (DESIGN.md §5).
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    # How much of the position this fill reduced; > 0 makes it a closing trade.
    closed_size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    strategy_id: Mapped[str | None] = mapped_column(String(64))
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id"))
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="trades")

    __table_args__ = (
        UniqueConstraint("instrument_id", "exchange_trade_id"),
        Index("ix_trades_executed_at_id", "executed_at", "id"),
        Index("ix_trades_instrument_id_executed_at", "instrument_id", "executed_at"),
        Index("ix_trades_strategy_id_executed_at", "strategy_id", "executed_at"),
        Index("ix_trades_order_id", "order_id"),
    )


class TradeDailySummary(Base):
    """The trades of one UTC day, instrument, strategy and fee currency, summed: what /performance reads.

    Kept in the same transaction as each trade (`daily_summary.add_trade`), so performance over years of history
    reads a few thousand rows instead of every fill (DESIGN.md §8). '' stands for no strategy / no fee currency
    (a primary key has no NULLs). `best`/`worst_closing_pnl` are the max/min `realized_pnl` of the closing trades.
    """

    __tablename__ = "trade_daily_summaries"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    instrument_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fee_currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    trades: Mapped[int] = mapped_column(Integer, nullable=False)
    closing_trades: Mapped[int] = mapped_column(Integer, nullable=False)
    wins: Mapped[int] = mapped_column(Integer, nullable=False)
    losses: Mapped[int] = mapped_column(Integer, nullable=False)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    gross_profit: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    gross_loss: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    best_closing_pnl: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    worst_closing_pnl: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    fees: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    volume: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)


class TrackerLag(Base):
    """The leading replica's report of how far its applied fills are behind the exchange's pushes (the oldest push
    not yet applied, in seconds: a duration, not money), written every half second while it leads, so that a standby
    holds new orders back on a stale view too (`MAX_FILL_LAG_S`, `app.services.trading.admission`). One row (id 1);
    `reported_at` is PostgreSQL's clock, so its age is read without comparing two machines' clocks."""

    __tablename__ = "tracker_lag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    behind_s: Mapped[float] = mapped_column(Float, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Position(TimestampMixin, Base):
    """The account's position in one instrument and position side (average cost, DESIGN.md §5).

    A position that returns to zero keeps its row (size 0, average cleared, `closed_at` set) with its realized PnL.
    """

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    instrument_id: Mapped[str] = mapped_column(String(64), nullable=False)
    position_side: Mapped[PositionSide] = mapped_column(
        str_enum(PositionSide), nullable=False, default=PositionSide.NET
    )
    instrument_type: Mapped[InstrumentType] = mapped_column(
        str_enum(InstrumentType), nullable=False, default=InstrumentType.SPOT
    )
    trade_mode: Mapped[TradeMode] = mapped_column(str_enum(TradeMode), nullable=False, default=TradeMode.CASH)
    # Signed: long > 0, short < 0.
    size: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    average_entry_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    # 1 for spot, ctVal for linear contracts.
    contract_multiplier: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(1))
    current_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    unrealized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False, default=Decimal(0))
    margin: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    leverage: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    liquidation_price: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("instrument_id", "position_side"),)


class ExecutionEvent(Base):
    """Append-only audit log: one row per fact, written in the same transaction as the change it describes."""

    __tablename__ = "execution_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_type: Mapped[ExecutionEventType] = mapped_column(str_enum(ExecutionEventType, length=48), nullable=False)
    # The ids of the rows the event names. No foreign keys: every event is written in the same statement or
    # transaction as the row it names, none of which is ever deleted, and their checks (a locking read of the named
    # row per event, ~3.7 events per order) were ~9 % of PostgreSQL's CPU per order under load (perf, 2026-12-06).
    order_id: Mapped[int | None] = mapped_column(BigIntPK)
    trade_id: Mapped[int | None] = mapped_column(BigIntPK)
    position_id: Mapped[int | None] = mapped_column(BigIntPK)
    execution_id: Mapped[int | None] = mapped_column(BigIntPK)
    instrument_id: Mapped[str | None] = mapped_column(String(64))
    strategy_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    # When the fact happened (exchange time where there is one) and when it was recorded here.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    # No relationships: events are written as rows (`events.record_event`), with the ids of the rows they name.

    __table_args__ = (
        Index("ix_execution_events_order_id", "order_id"),
        Index("ix_execution_events_execution_id", "execution_id", **_where_set("execution_id")),
        Index("ix_execution_events_event_type_created_at", "event_type", "created_at"),
        Index("ix_execution_events_created_at_id", "created_at", "id"),
    )
