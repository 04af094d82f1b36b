"""`PositionManager`: positions in the database, moved by fills through `position_math` (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.trading import ExecutionEventType, InstrumentType, OrderSide, Position, PositionSide, Trade, TradeMode
from app.services.trading.events import record_event
from app.services.trading.position_math import FillEffect, PositionState, apply_fill, unrealized_pnl

__all__ = ["PositionManager"]


class PositionManager:
    def __init__(self, db_session: AsyncSession) -> None:
        self.session = db_session

    async def get_position(self, instrument: str, position_side: PositionSide = PositionSide.NET) -> Position | None:
        query = select(Position).where(Position.instrument_id == instrument, Position.position_side == position_side)
        if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()  # two fills of one instrument never interleave their arithmetic
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get_all_positions(self, *, include_closed: bool = False) -> Sequence[Position]:
        query = select(Position).order_by(Position.instrument_id, Position.position_side)
        positions = (await self.session.execute(query)).scalars().all()
        # Sizes are text on SQLite, so "open" is decided here rather than in SQL.
        return positions if include_closed else [p for p in positions if p.size != 0]

    async def update_position(
        self,
        trade: Trade,
        *,
        multiplier: Decimal = Decimal(1),
        instrument_type: InstrumentType = InstrumentType.SPOT,
        trade_mode: TradeMode = TradeMode.CASH,
        position_side: PositionSide = PositionSide.NET,
    ) -> tuple[Position, FillEffect]:
        """Apply one fill (flushes, does not commit) and write the position's event."""
        position = await self.get_position(trade.instrument_id, position_side)
        if position is None:
            position = Position(
                instrument_id=trade.instrument_id,
                position_side=position_side,
                instrument_type=instrument_type,
                trade_mode=trade_mode,
                size=Decimal(0),
                contract_multiplier=multiplier,
                unrealized_pnl=Decimal(0),
                realized_pnl=Decimal(0),
            )
            self.session.add(position)
        signed = trade.size if trade.side is OrderSide.BUY else -trade.size
        before = PositionState(position.size, position.average_entry_price, position.realized_pnl)
        effect = apply_fill(before, signed, trade.price, position.contract_multiplier)
        position.size = effect.state.size
        position.average_entry_price = effect.state.average_price
        position.realized_pnl = effect.state.realized_pnl
        position.current_price = trade.price
        position.unrealized_pnl = unrealized_pnl(effect.state, trade.price, position.contract_multiplier)
        moment = trade.executed_at or utcnow()
        if effect.opened:
            position.opened_at, position.closed_at = moment, None
        if effect.closed:
            position.closed_at = moment
        event_type = (
            ExecutionEventType.POSITION_CLOSED
            if effect.closed
            else ExecutionEventType.POSITION_OPENED
            if effect.opened
            else ExecutionEventType.POSITION_UPDATED
        )
        record_event(
            self.session,
            event_type,
            trade=trade,
            position=position,
            instrument_id=trade.instrument_id,
            strategy_id=trade.strategy_id,
            data={
                "size": position.size,
                "average_entry_price": position.average_entry_price,
                "realized": effect.realized,
                "closed_size": effect.closed_size,
                "flipped": effect.flipped,
            },
            occurred_at=moment,
        )
        await self.session.flush()
        return position, effect

    def calculate_pnl(self, position: Position, current_price: Decimal) -> Decimal:
        """Unrealized PnL at `current_price` (size × multiplier × (price − average entry))."""
        state = PositionState(position.size, position.average_entry_price, position.realized_pnl)
        return unrealized_pnl(state, current_price, position.contract_multiplier)
