"""`PositionManager`: positions in the database, moved by fills through `position_math` (DESIGN.md §5)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.trading import ExecutionEventType, InstrumentType, OrderSide, Position, PositionSide, Trade, TradeMode
from app.services.okx.client import OKXClient
from app.services.okx.models import PositionInfo
from app.services.trading.events import record_event
from app.services.trading.position_math import FillEffect, PositionState, apply_fill, unrealized_pnl

__all__ = ["FILL_ON_ITS_WAY_S", "PositionManager", "fee_in_kind"]

# How long a fill the exchange has counted may take to be stored here: a push is applied within milliseconds, and
# with the WebSocket down the tracker's poll gap-fills every 5 s. A position sync does not correct a difference
# that a fill younger than this, and not stored yet, explains.
FILL_ON_ITS_WAY_S = 60.0
FILL_ON_ITS_WAY = timedelta(seconds=FILL_ON_ITS_WAY_S)


def fee_in_kind(instrument_type: InstrumentType, instrument_id: str, fee: Decimal, fee_currency: str) -> Decimal:
    """The part of a fill's fee taken from the traded amount itself: on spot, a fee in the base currency (a buy's,
    on OKX) comes out of what was bought. OKX credits 0.0999 BTC for a 0.1 BTC buy with a 0.0001 BTC fee, so the
    position is 0.0999, not 0.1: selling 0.1 would be refused, and selling 0.0999 would leave 0.0001 open for ever.
    Its cost is already in the trade's realized PnL (the fee in quote), so nothing is counted twice: the average
    entry stays the fill price. A rebate (negative fee) adds to the position. Derivatives: nothing (their fees are
    in the settlement currency)."""
    if instrument_type is not InstrumentType.SPOT:
        return Decimal(0)
    return fee if fee_currency == instrument_id.split("-")[0] else Decimal(0)


@functools.cache
def _position_statement(*, for_update: bool) -> Select[tuple[Position]]:
    """`get_position`'s query, built once (a statement built per fill costs its cache key every time)."""
    query = select(Position).where(
        Position.instrument_id == bindparam("instrument_id"), Position.position_side == bindparam("position_side")
    )
    return query.with_for_update() if for_update else query


class PositionManager:
    def __init__(self, db_session: AsyncSession) -> None:
        self.session = db_session

    @property
    def _on_postgres(self) -> bool:
        return self.session.bind is not None and self.session.bind.dialect.name == "postgresql"

    async def get_position(self, instrument: str, position_side: PositionSide = PositionSide.NET) -> Position | None:
        # Row-locked on PostgreSQL: two fills of one instrument never interleave their arithmetic.
        statement = _position_statement(for_update=self._on_postgres)
        parameters = {"instrument_id": instrument, "position_side": position_side}
        return (await self.session.execute(statement, parameters)).scalar_one_or_none()

    async def get_all_positions(self, *, include_closed: bool = False) -> Sequence[Position]:
        query = select(Position).order_by(Position.instrument_id, Position.position_side)
        positions = (await self.session.execute(query)).scalars().all()
        # Sizes are text on SQLite, so "open" is decided here rather than in SQL.
        return positions if include_closed else [p for p in positions if p.size != 0]

    def marked(self, position: Position, prices: Mapping[str, Decimal]) -> Position:
        """`position` to read, marked to the market: `current_price` and `unrealized_pnl` (s·m·(price − a),
        DESIGN.md §5) at `prices` (the risk view's latest, refreshed every few seconds), not at its last fill, which
        may be hours old. Detached from the session, so the mark is never written; without a price, as stored."""
        self.session.expunge(position)
        price = prices.get(position.instrument_id)
        if price is not None and position.size != 0:
            position.current_price = price
            position.unrealized_pnl = self.calculate_pnl(position, price)
        return position

    async def marked_positions(self, prices: Mapping[str, Decimal], *, include_closed: bool = False) -> list[Position]:
        return [self.marked(p, prices) for p in await self.get_all_positions(include_closed=include_closed)]

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
        position = await self.position_for_fill(
            trade.instrument_id,
            position_side,
            multiplier=multiplier,
            instrument_type=instrument_type,
            trade_mode=trade_mode,
        )
        effect = self.effect_of(
            position,
            trade.side,
            trade.size,
            trade.price,
            fee=trade.fee,
            fee_currency=trade.fee_currency or "",
            instrument_type=instrument_type,
        )
        self.apply(position, effect, trade)
        await self.session.flush()
        return position, effect

    async def position_for_fill(
        self,
        instrument_id: str,
        position_side: PositionSide,
        *,
        multiplier: Decimal,
        instrument_type: InstrumentType,
        trade_mode: TradeMode,
    ) -> Position:
        """The position a fill moves, row-locked on PostgreSQL; created flat when the instrument has none yet."""
        position = await self.get_position(instrument_id, position_side)
        if position is None and self._on_postgres:
            # Two first fills of an instrument in two sessions: both may find no row; only one may create it.
            await self.session.execute(
                pg_insert(Position)
                .values(
                    instrument_id=instrument_id,
                    position_side=position_side,
                    instrument_type=instrument_type,
                    trade_mode=trade_mode,
                    size=Decimal(0),
                    contract_multiplier=multiplier,
                    unrealized_pnl=Decimal(0),
                    realized_pnl=Decimal(0),
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["instrument_id", "position_side"])
            )
            position = await self.get_position(instrument_id, position_side)
        if position is None:
            position = Position(
                instrument_id=instrument_id,
                position_side=position_side,
                instrument_type=instrument_type,
                trade_mode=trade_mode,
                size=Decimal(0),
                contract_multiplier=multiplier,
                unrealized_pnl=Decimal(0),
                realized_pnl=Decimal(0),
            )
            self.session.add(position)
        return position

    @staticmethod
    def effect_of(
        position: Position,
        side: OrderSide,
        size: Decimal,
        price: Decimal,
        *,
        fee: Decimal = Decimal(0),
        fee_currency: str = "",
        instrument_type: InstrumentType = InstrumentType.SPOT,
    ) -> FillEffect:
        """What a fill would do to `position` (nothing is changed): known before the trade is stored, so the
        trade is written once, with its realized PnL. The position moves by the size net of the part of the fee
        taken from the traded amount itself (`fee_in_kind`)."""
        in_kind = fee_in_kind(instrument_type, position.instrument_id, fee, fee_currency)
        signed = (size if side is OrderSide.BUY else -size) - in_kind
        before = PositionState(position.size, position.average_entry_price, position.realized_pnl)
        return apply_fill(before, signed, price, position.contract_multiplier)

    def apply(self, position: Position, effect: FillEffect, trade: Trade) -> None:
        """Move `position` to `effect`'s state at the trade's price and record the position's event."""
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
            order_id=trade.order_id,  # the fill's order, so an order's events tell its whole story
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

    async def sync_with_exchange(
        self,
        okx_client: OKXClient,
        *,
        compare_spot_holdings: bool = True,
        caught_up: Callable[[], Awaitable[object]] | None = None,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Compare with the exchange and correct the local record (DESIGN.md §5); one `position_synced` event per
        position that differed, naming each difference. Returns the differences.

        Derivatives are compared with /account/positions and corrected to it (size, average entry, margin,
        leverage, liquidation price, mark, unrealized PnL). Spot holdings are balances, which include what was
        deposited rather than traded, so a spot position is compared with its base currency's balance and the
        difference is reported, never "corrected" into the traded position.

        A position whose last fill on the exchange (its `tradeId`) is not stored here, and that moved there under
        `FILL_ON_ITS_WAY_S` ago (its `uTime`; for a position flat there, and so not listed, the instrument's newest
        fill and that fill's time) is not corrected: that fill is on its way (its push, or the poll's gap fill), and
        corrected now it would be applied on top and counted twice (a long closed on the exchange would become a
        short here, its realized PnL lost). It is reported with `corrected: false` and `awaiting_fill`. Older and
        still not stored, the fill is not coming (the position predates the service, or its fills were lost): the
        position is corrected. `caught_up` (the tracker's) is awaited after the exchange is read, so every push
        received by then is applied first. Everything is read from the exchange before anything is written, so no
        row is locked across a REST call.
        """
        now = now or utcnow()
        exchange_positions = await okx_client.account.get_positions()
        balance = await okx_client.account.get_balance()
        if caught_up is not None:
            await caught_up()
        differences: list[dict[str, Any]] = []
        local = {(p.instrument_id, p.position_side): p for p in await self.get_all_positions(include_closed=True)}
        seen = {(remote.inst_id, PositionSide(remote.pos_side or "net")) for remote in exchange_positions}
        instruments = {
            remote.inst_id: await okx_client.public.instrument(remote.inst_id)
            for remote in exchange_positions
            if (remote.inst_id, PositionSide(remote.pos_side or "net")) not in local
        }
        newest_fill: dict[str, str | None] = {}  # flat there: the fill that closed it is the instrument's newest
        for key, position in local.items():
            gone = key not in seen and position.instrument_type is not InstrumentType.SPOT and position.size != 0
            if gone and key[0] not in newest_fill:
                newest = await okx_client.trade.get_fills(inst_id=key[0], limit=1)
                recent = newest and now - newest[0].ts < FILL_ON_ITS_WAY
                newest_fill[key[0]] = newest[0].trade_id if recent else None
        for remote in exchange_positions:
            side = PositionSide(remote.pos_side or "net")
            key = (remote.inst_id, side)
            position = local.get(key)
            if position is None:
                instrument = instruments[remote.inst_id]
                position = Position(
                    instrument_id=remote.inst_id,
                    position_side=side,
                    instrument_type=InstrumentType(remote.inst_type),
                    trade_mode=TradeMode(remote.mgn_mode or "cross"),
                    size=Decimal(0),
                    contract_multiplier=instrument.contract_multiplier,
                    unrealized_pnl=Decimal(0),
                    realized_pnl=Decimal(0),
                )
                self.session.add(position)
            changes = self._differences(position, remote)
            recent = remote.u_time is not None and now - remote.u_time < FILL_ON_ITS_WAY
            if changes and recent and (awaited := await self._fill_not_stored(remote.inst_id, remote.trade_id)):
                differences.append(self._left_to_its_fill(position, changes, awaited))
            elif changes:
                differences.append(self._synced(position, self._correct(position, remote)))
            else:
                self._correct(position, remote)  # the mark and unrealized PnL
        for key, position in local.items():
            if key not in seen and position.instrument_type is not InstrumentType.SPOT and position.size != 0:
                changes = {"size": {"local": position.size, "exchange": Decimal(0)}}
                if awaited := await self._fill_not_stored(position.instrument_id, newest_fill.get(key[0])):
                    differences.append(self._left_to_its_fill(position, changes, awaited))
                    continue
                position.size, position.average_entry_price, position.closed_at = Decimal(0), None, utcnow()
                differences.append(self._synced(position, changes))
        for (inst_id, _), position in local.items():
            if compare_spot_holdings and position.instrument_type is InstrumentType.SPOT and position.size != 0:
                base = inst_id.split("-")[0]
                held = balance.currency(base)
                exchange_holding = held.cash_bal if held is not None and held.cash_bal is not None else Decimal(0)
                if exchange_holding != position.size:
                    differences.append(
                        self._synced(
                            position,
                            {"holding": {"local": position.size, "exchange": exchange_holding}, "corrected": False},
                        )
                    )
        await self.session.flush()
        return differences

    async def _fill_not_stored(self, instrument_id: str, exchange_trade_id: str | None) -> str | None:
        """`exchange_trade_id` when that fill is not stored here (a fill on its way), else None."""
        if not exchange_trade_id:
            return None
        found = await self.session.execute(
            select(Trade.id).where(Trade.instrument_id == instrument_id, Trade.exchange_trade_id == exchange_trade_id)
        )
        return None if found.first() is not None else exchange_trade_id

    @staticmethod
    def _wanted(remote: PositionInfo) -> dict[str, Any]:
        """The exchange's position in this record's terms. In long/short mode OKX reports a short's `pos` as a
        positive number; here a short's size is negative whatever the mode."""
        size = -remote.pos if remote.pos_side == PositionSide.SHORT else remote.pos
        return {
            "size": size,
            "average_entry_price": remote.avg_px if remote.pos != 0 else None,
            "margin": remote.margin,
            "leverage": remote.lever,
            "liquidation_price": remote.liq_px,
        }

    @classmethod
    def _differences(cls, position: Position, remote: PositionInfo) -> dict[str, Any]:
        return {
            name: {"local": getattr(position, name), "exchange": value}
            for name, value in cls._wanted(remote).items()
            if getattr(position, name) != value
        }

    @classmethod
    def _correct(cls, position: Position, remote: PositionInfo) -> dict[str, Any]:
        changes = cls._differences(position, remote)
        for name, change in changes.items():
            setattr(position, name, change["exchange"])
        if remote.mark_px is not None:
            position.current_price = remote.mark_px
        if remote.upl is not None:
            position.unrealized_pnl = remote.upl
        return changes

    def _left_to_its_fill(self, position: Position, changes: dict[str, Any], trade_id: str) -> dict[str, Any]:
        """A difference a fill not stored yet explains: reported, not corrected (that fill's push or the next gap
        fill brings it)."""
        return self._synced(position, {**changes, "corrected": False, "awaiting_fill": trade_id})

    def _synced(self, position: Position, changes: dict[str, Any]) -> dict[str, Any]:
        difference = {"instrument_id": position.instrument_id, "position_side": position.position_side, **changes}
        record_event(
            self.session,
            ExecutionEventType.POSITION_SYNCED,
            position=position,
            instrument_id=position.instrument_id,
            data=difference,
        )
        return difference

    def calculate_pnl(self, position: Position, current_price: Decimal) -> Decimal:
        """Unrealized PnL at `current_price` (size × multiplier × (price − average entry))."""
        state = PositionState(position.size, position.average_entry_price, position.realized_pnl)
        return unrealized_pnl(state, current_price, position.contract_multiplier)
