"""The per-day trade summary (`TradeDailySummary`): one rule for folding a trade into the sums analytics read.

Every trade is added in the transaction that stores it (`TradeRecorder.record_trade`), so the summary can never
disagree with the trades it sums. PostgreSQL adds with one `INSERT … ON CONFLICT DO UPDATE` (exact NUMERIC, safe
between replicas); SQLite, whose money is text and whose writers are serialized by `BEGIN IMMEDIATE`, reads the
row, adds in Python and writes it back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date
from decimal import Context, Decimal, localcontext
from typing import Any

from sqlalchemy import CTE, Date, Numeric, and_, bindparam, cast, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import Trade, TradeDailySummary

__all__ = [
    "EXACT",
    "FIELDS",
    "DaySums",
    "add_trade",
    "adding_after",
    "adding_parameters",
    "rebuild",
    "sql_sums",
    "sql_utc_day",
    "summary_key",
    "sums_of",
]

ZERO = Decimal(0)
# Sums of money must not round: trades carry up to ~40 significant digits (average-cost PnL) at any scale, and
# Python's default 28 digits would make a sum depend on the order it was added in. PostgreSQL's NUMERIC is exact.
EXACT = Context(prec=1000)


@dataclass
class DaySums:
    """Sums over a set of trades; merging two is adding them (best/worst take the max/min)."""

    trades: int = 0
    closing_trades: int = 0
    wins: int = 0
    losses: int = 0
    realized_pnl: Decimal = ZERO
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    best_closing_pnl: Decimal | None = None
    worst_closing_pnl: Decimal | None = None
    fees: Decimal = ZERO
    volume: Decimal = ZERO

    @classmethod
    def of_trade(
        cls,
        realized_pnl: Decimal,
        closed_size: Decimal,
        fee: Decimal,
        price: Decimal,
        size: Decimal,
        multiplier: Decimal,
    ) -> DaySums:
        closing = closed_size > 0
        with localcontext(EXACT):
            volume = price * size * multiplier
        return cls(
            trades=1,
            closing_trades=int(closing),
            wins=int(closing and realized_pnl > 0),
            losses=int(closing and realized_pnl < 0),
            realized_pnl=realized_pnl,
            gross_profit=realized_pnl if closing and realized_pnl > 0 else ZERO,
            gross_loss=realized_pnl if closing and realized_pnl < 0 else ZERO,
            best_closing_pnl=realized_pnl if closing else None,
            worst_closing_pnl=realized_pnl if closing else None,
            fees=fee,
            volume=volume,
        )

    def merge(self, other: DaySums) -> None:
        with localcontext(EXACT):
            for name in ADDITIVE:
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.best_closing_pnl = _pick(max, self.best_closing_pnl, other.best_closing_pnl)
        self.worst_closing_pnl = _pick(min, self.worst_closing_pnl, other.worst_closing_pnl)


KEY_COLUMNS = ("day", "instrument_id", "strategy_id", "fee_currency")  # the summary table's primary key
FIELDS = tuple(f.name for f in fields(DaySums))  # in constructor order
ADDITIVE = tuple(name for name in FIELDS if name not in {"best_closing_pnl", "worst_closing_pnl"})


def _pick(choose: Callable[[Decimal, Decimal], Decimal], a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None or b is None:
        return a if b is None else b
    return choose(a, b)


def summary_key(trade: Trade) -> tuple[date, str, str, str]:
    """The summary row a trade belongs to: (UTC day, instrument, strategy or '', fee currency or '')."""
    return (
        trade.executed_at.astimezone(UTC).date(),
        trade.instrument_id,
        trade.strategy_id or "",
        trade.fee_currency or "",
    )


def _adding(statement: Any) -> Any:
    """`statement` (an INSERT of one trade's key and sums) as INSERT … ON CONFLICT DO UPDATE adding them to the
    day's row."""
    table, new = TradeDailySummary.__table__.c, statement.excluded
    update = {name: table[name] + new[name] for name in ADDITIVE}
    update["best_closing_pnl"] = func.greatest(table.best_closing_pnl, new.best_closing_pnl)
    update["worst_closing_pnl"] = func.least(table.worst_closing_pnl, new.worst_closing_pnl)
    return statement.on_conflict_do_update(index_elements=list(KEY_COLUMNS), set_=update)


_ADD_ON_POSTGRESQL = _adding(pg_insert(TradeDailySummary))  # built once, run with parameters


def _parameters(trade: Trade) -> dict[str, Any]:
    day, instrument_id, strategy_id, fee_currency = summary_key(trade)
    key = {"day": day, "instrument_id": instrument_id, "strategy_id": strategy_id, "fee_currency": fee_currency}
    return {**key, **asdict(sums_of(trade))}


def adding_after(stored: CTE) -> CTE:
    """`add_trade` on PostgreSQL as a CTE that adds only if `stored` (a trade INSERT … RETURNING) returned a row: the
    trade and its day in one statement (`TradeRecorder`). Its parameters: `adding_parameters(trade)`."""
    table = TradeDailySummary.__table__
    names = [*KEY_COLUMNS, *FIELDS]
    row = select(*(bindparam(f"summary_{name}", type_=table.c[name].type) for name in names)).select_from(stored)
    return _adding(pg_insert(TradeDailySummary).from_select(names, row)).cte("summary")


def adding_parameters(trade: Trade) -> dict[str, Any]:
    """The parameters of `adding_after` for `trade` (its final `realized_pnl` and `closed_size` set)."""
    return {f"summary_{name}": value for name, value in _parameters(trade).items()}


async def add_trade(session: AsyncSession, trade: Trade) -> None:
    """Fold a stored trade (its final `realized_pnl` and `closed_size` set) into its day's summary row."""
    parameters = _parameters(trade)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        connection = await session.connection()
        await connection.execute(_ADD_ON_POSTGRESQL, parameters)
        return
    key = {name: parameters[name] for name in KEY_COLUMNS}
    row = await session.get(TradeDailySummary, tuple(key.values()))
    sums = sums_of(trade)
    if row is None:
        session.add(TradeDailySummary(**key, **asdict(sums)))
        return
    total = DaySums(**{name: getattr(row, name) for name in FIELDS})
    total.merge(sums)
    for name, value in asdict(total).items():
        setattr(row, name, value)


def sql_sums() -> list[Any]:
    """`DaySums`' fields as SQL aggregates over `trades` (PostgreSQL), in `FIELDS` order: the fold of `of_trade`."""
    closing = Trade.closed_size > 0
    pnl = Trade.realized_pnl
    zero = literal(0, Numeric())
    return [
        func.count(),
        func.count().filter(closing),
        func.count().filter(and_(closing, pnl > 0)),
        func.count().filter(and_(closing, pnl < 0)),
        func.sum(pnl),
        func.coalesce(func.sum(pnl).filter(and_(closing, pnl > 0)), zero),
        func.coalesce(func.sum(pnl).filter(and_(closing, pnl < 0)), zero),
        func.max(pnl).filter(closing),
        func.min(pnl).filter(closing),
        func.sum(Trade.fee),
        func.sum(Trade.price * Trade.size * Trade.contract_multiplier),
    ]


def sql_utc_day() -> Any:
    return cast(func.timezone("UTC", Trade.executed_at), Date)


def sums_of(trade: Trade) -> DaySums:
    return DaySums.of_trade(
        trade.realized_pnl, trade.closed_size, trade.fee, trade.price, trade.size, trade.contract_multiplier
    )


async def rebuild(session: AsyncSession) -> int:
    """Recompute every summary row from the trades (after trades were loaded in bulk, outside `record_trade`).
    Returns the number of rows written."""
    await session.execute(delete(TradeDailySummary))
    if session.get_bind().dialect.name == "postgresql":
        strategy, currency = func.coalesce(Trade.strategy_id, ""), func.coalesce(Trade.fee_currency, "")
        keys = [sql_utc_day(), Trade.instrument_id, strategy, currency]
        source = select(*keys, *sql_sums()).group_by(*keys)
        columns = ["day", "instrument_id", "strategy_id", "fee_currency", *FIELDS]
        result = await session.execute(insert(TradeDailySummary).from_select(columns, source))
        return result.rowcount
    summaries: dict[tuple[date, str, str, str], DaySums] = defaultdict(DaySums)
    for trade in (await session.execute(select(Trade))).scalars():
        summaries[summary_key(trade)].merge(sums_of(trade))
    for (day, instrument_id, strategy_id, fee_currency), sums in summaries.items():
        key = {"day": day, "instrument_id": instrument_id, "strategy_id": strategy_id, "fee_currency": fee_currency}
        session.add(TradeDailySummary(**key, **asdict(sums)))
    await session.flush()
    return len(summaries)
