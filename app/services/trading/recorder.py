"""`TradeRecorder.record_trade`: one fill, stored once, with the order's filled size, the position and the events
in the same unit of work (DESIGN.md §4.3, §5).

Fees: `fee` is what was paid (positive = charged, negative = rebate; OKX's sign is the opposite and is flipped where
OKX data enters). The trade's `realized_pnl` is the PnL of the part it closed minus its fee in the quote currency: a
fee charged in the base currency is converted at the fill price; a fee in any other currency (e.g. a platform
token) cannot be converted here and is left out of PnL, while still recorded with its currency.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.log_config import log_context
from app.models.base import utcnow
from app.models.trading import (
    ExecutionEventType,
    InstrumentType,
    Liquidity,
    Order,
    OrderSide,
    Position,
    PositionSide,
    Trade,
    TradeMode,
)
from app.services.trading import daily_summary
from app.services.trading.analytics import PerformanceMetrics, calculate_performance
from app.services.trading.events import record_event
from app.services.trading.position_manager import PositionManager
from app.services.trading.position_math import FillEffect

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_INITIAL_CAPITAL",
    "FILL_IDENTITY",
    "TradeRecorder",
    "currencies_of",
    "store_trade_statement",
    "trade_values",
]

FILL_IDENTITY = ["instrument_id", "exchange_trade_id"]  # a fill's identity: stored at most once


@functools.cache
def store_trade_statement(columns: tuple[str, ...]) -> Select[Any]:
    """PostgreSQL: the trade's INSERT … ON CONFLICT DO NOTHING RETURNING, and its day's summary added only if it
    was inserted, in one statement built once."""
    trades = Trade.__table__
    row = {name: bindparam(name, type_=trades.c[name].type) for name in columns}
    stored = (
        pg_insert(trades)
        .values(row)
        .on_conflict_do_nothing(index_elements=FILL_IDENTITY)
        .returning(*trades.c)
        .cte("stored")
    )
    return select(aliased(Trade, stored)).add_cte(daily_summary.adding_after(stored))


DEFAULT_INITIAL_CAPITAL = Decimal("100000")


def currencies_of(instrument_id: str) -> tuple[str, str]:
    """(base, quote) of an OKX instId: BTC-USDT → (BTC, USDT); BTC-USDT-SWAP → (BTC, USDT), the settle currency of
    a linear swap."""
    parts = instrument_id.split("-")
    return parts[0], parts[1] if len(parts) > 1 else ""


class TradeRecorder:
    def __init__(self, db_session: AsyncSession, *, initial_capital: Decimal = DEFAULT_INITIAL_CAPITAL) -> None:
        self.session = db_session
        self.initial_capital = initial_capital

    async def calculate_performance(
        self,
        start_date: datetime,
        end_date: datetime,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        initial_capital: Decimal | None = None,
    ) -> PerformanceMetrics:
        """The metrics of DESIGN.md §8 over [start_date, end_date) (see `analytics`)."""
        return await calculate_performance(
            self.session,
            start_date,
            end_date,
            strategy_id=strategy_id,
            instrument_id=instrument_id,
            initial_capital=initial_capital if initial_capital is not None else self.initial_capital,
        )

    async def _store(self, **values: Any) -> Trade | None:
        """INSERT the trade unless (instrument, exchange trade id) is stored already, and add it to its day's
        summary: a concurrent writer of the same fill (another replica) makes this a no-op, not an error. One
        statement on PostgreSQL."""
        if self.session.get_bind().dialect.name == "postgresql":
            parameters = {**values, **daily_summary.adding_parameters(Trade(**values))}
            return (await self.session.scalars(store_trade_statement(tuple(values)), parameters)).first()
        statement = sqlite_insert(Trade).values(**values).on_conflict_do_nothing(index_elements=FILL_IDENTITY)
        trade = (await self.session.scalars(statement.returning(Trade))).first()
        if trade is not None:
            await daily_summary.add_trade(self.session, trade)
        return trade

    async def record_trade(
        self,
        order_id: int,
        trade_id: str,
        instrument_id: str,
        side: OrderSide,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        fee_currency: str,
        liquidity: Liquidity | None = None,
        executed_at: datetime | None = None,
        *,
        multiplier: Decimal = Decimal(1),
        instrument_type: InstrumentType = InstrumentType.SPOT,
        position_side: PositionSide = PositionSide.NET,
    ) -> Trade | None:
        """Store a fill and move the order and the position; None when this fill was already stored."""
        if price <= 0 or size <= 0:
            raise ValueError("a fill has a positive price and size")
        order = await self.session.get(Order, order_id)
        if order is None:
            raise ValueError(f"order {order_id} does not exist")
        positions = PositionManager(self.session)
        # The position is locked first: its arithmetic gives the trade's PnL, so the trade is written once, whole.
        position = await positions.position_for_fill(
            instrument_id,
            position_side,
            multiplier=multiplier,
            instrument_type=instrument_type,
            trade_mode=order.trade_mode if instrument_type is not InstrumentType.SPOT else TradeMode.CASH,
        )
        effect = positions.effect_of(
            position, side, size, price, fee=fee, fee_currency=fee_currency, instrument_type=instrument_type
        )
        values = trade_values(
            order,
            effect,
            trade_id,
            instrument_id,
            side,
            price,
            size,
            fee,
            fee_currency,
            liquidity,
            executed_at,
            multiplier,
        )
        trade = await self._store(**values)
        if trade is None:
            return None  # stored before (a repeated push, or another replica): nothing moves twice
        self.fill_stored(order, position, effect, trade)
        return trade

    def fill_stored(self, order: Order, position: Position, effect: FillEffect, trade: Trade) -> None:
        """What a stored fill moves (its position, its order's filled size and average price) and its events;
        nothing is written here (the caller's flush, or the direct lane, writes it)."""
        PositionManager(self.session).apply(position, effect, trade)

        filled = order.filled_size + trade.size
        previous_value = order.filled_size * (order.average_fill_price or Decimal(0))
        order.average_fill_price = (previous_value + trade.size * trade.price) / filled
        order.filled_size = filled
        record_event(
            self.session,
            ExecutionEventType.ORDER_FILLED,
            order=order,
            trade=trade,
            data={
                "trade_id": trade.exchange_trade_id,
                "price": trade.price,
                "size": trade.size,
                "fee": trade.fee,
                "fee_currency": trade.fee_currency,
                "liquidity": trade.liquidity,
                "filled_size": order.filled_size,
                "realized_pnl": trade.realized_pnl,
            },
            occurred_at=trade.executed_at,
        )
        # Not flushed here: the order, the position and the events go out once, at the caller's flush, together
        # with the status change that usually follows (two UPDATEs of the order and two event INSERTs fewer).
        with log_context(
            order_id=order.id,
            client_order_id=order.client_order_id,
            exchange_order_id=order.exchange_order_id,
            instrument_id=trade.instrument_id,
            strategy_id=order.strategy_id,
        ):
            log.info(
                "fill stored: %s %s @ %s (trade %s, fee %s %s)",
                trade.side,
                trade.size,
                trade.price,
                trade.exchange_trade_id,
                trade.fee,
                trade.fee_currency,
            )


def trade_values(
    order: Order,
    effect: FillEffect,
    trade_id: str,
    instrument_id: str,
    side: OrderSide,
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    fee_currency: str,
    liquidity: Liquidity | None,
    executed_at: datetime | None,
    multiplier: Decimal,
) -> dict[str, Any]:
    """The trade row of a fill: its realized PnL is what it closed (`effect`, from the locked position) minus its
    fee in the quote currency."""
    base, quote = currencies_of(instrument_id)
    fee_in_quote = fee if fee_currency == quote else fee * price if fee_currency == base else Decimal(0)
    return dict(
        order_id=order.id,
        exchange_trade_id=trade_id,
        instrument_id=instrument_id,
        side=side,
        price=price,
        size=size,
        contract_multiplier=multiplier,
        fee=fee,
        fee_currency=fee_currency,
        liquidity=liquidity,
        strategy_id=order.strategy_id,
        execution_id=order.execution_id,
        executed_at=executed_at or utcnow(),
        realized_pnl=effect.realized - fee_in_quote,
        closed_size=effect.closed_size,
    )
