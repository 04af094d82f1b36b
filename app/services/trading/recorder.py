"""`TradeRecorder.record_trade`: one fill, stored once, with the order's filled size, the position and the events
in the same unit of work (DESIGN.md §4.3, §5).

Fees: `fee` is what was paid (positive = charged, negative = rebate; OKX's sign is the opposite and is flipped where
OKX data enters). The trade's `realized_pnl` is the PnL of the part it closed minus its fee in the quote currency: a
fee charged in the base currency is converted at the fill price; a fee in any other currency (e.g. a platform
token) cannot be converted here and is left out of PnL, while still recorded with its currency.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.log_config import log_context
from app.models.base import utcnow
from app.models.trading import (
    ExecutionEventType,
    InstrumentType,
    Liquidity,
    Order,
    OrderSide,
    PositionSide,
    Trade,
    TradeMode,
)
from app.services.trading import daily_summary
from app.services.trading.analytics import PerformanceMetrics, calculate_performance
from app.services.trading.events import record_event
from app.services.trading.position_manager import PositionManager

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_INITIAL_CAPITAL", "TradeRecorder", "currencies_of"]

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
        duplicate = await self.session.execute(
            select(Trade.id).where(Trade.instrument_id == instrument_id, Trade.exchange_trade_id == trade_id)
        )
        if duplicate.first() is not None:
            return None
        order = await self.session.get(Order, order_id)
        if order is None:
            raise ValueError(f"order {order_id} does not exist")
        trade = Trade(
            order_id=order_id,
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
        )
        try:
            async with self.session.begin_nested():  # another replica may store the same fill first
                self.session.add(trade)
                await self.session.flush()
        except IntegrityError:
            return None

        _, effect = await PositionManager(self.session).update_position(
            trade,
            multiplier=multiplier,
            instrument_type=instrument_type,
            trade_mode=order.trade_mode if instrument_type is not InstrumentType.SPOT else TradeMode.CASH,
            position_side=position_side,
        )
        base, quote = currencies_of(instrument_id)
        fee_in_quote = fee if fee_currency == quote else fee * price if fee_currency == base else Decimal(0)
        trade.realized_pnl = effect.realized - fee_in_quote
        trade.closed_size = effect.closed_size

        filled = order.filled_size + size
        previous_value = order.filled_size * (order.average_fill_price or Decimal(0))
        order.average_fill_price = (previous_value + size * price) / filled
        order.filled_size = filled
        record_event(
            self.session,
            ExecutionEventType.ORDER_FILLED,
            order=order,
            trade=trade,
            data={
                "trade_id": trade_id,
                "price": price,
                "size": size,
                "fee": fee,
                "fee_currency": fee_currency,
                "liquidity": liquidity,
                "filled_size": order.filled_size,
                "realized_pnl": trade.realized_pnl,
            },
            occurred_at=trade.executed_at,
        )
        await self.session.flush()
        await daily_summary.add_trade(self.session, trade)
        with log_context(
            order_id=order.id,
            client_order_id=order.client_order_id,
            exchange_order_id=order.exchange_order_id,
            instrument_id=instrument_id,
            strategy_id=order.strategy_id,
        ):
            log.info("fill stored: %s %s @ %s (trade %s, fee %s %s)", side, size, price, trade_id, fee, fee_currency)
        return trade
