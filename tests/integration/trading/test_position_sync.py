"""Position sync with the exchange: derivatives corrected to OKX, spot differences reported, an event each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.trading import ExecutionEvent, ExecutionEventType, Position
from app.services.okx.client import OKXClient
from app.services.trading.position_manager import FILL_ON_ITS_WAY_S, PositionManager
from tests.integration.okx.conftest import order

D = Decimal


async def test_sync_corrects_swaps_and_reports_spot(okx: OKXClient, db_session: AsyncSession) -> None:
    # The exchange holds 3 BTC-USDT-SWAP contracts the database never heard of (placed by hand).
    await okx.trade.place_order(order("BTC-USDT-SWAP", ord_type="market", px=None, sz="3"))
    [remote] = await okx.account.get_positions(inst_type="SWAP")
    # And the database believes in a spot position that does not match the BTC balance.
    db_session.add(Position(instrument_id="BTC-USDT", size=D("0.5"), average_entry_price=D("50000")))
    await db_session.flush()

    # A sync over a minute later: the fill that opened it is not stored here and is no longer on its way.
    later = utcnow() + timedelta(seconds=FILL_ON_ITS_WAY_S + 1)
    differences = await PositionManager(db_session).sync_with_exchange(okx, now=later)
    again = await PositionManager(db_session).sync_with_exchange(okx, now=later)

    swap = (await db_session.execute(select(Position).where(Position.instrument_id == "BTC-USDT-SWAP"))).scalar_one()
    assert (swap.size, swap.average_entry_price, swap.contract_multiplier) == (D("3"), remote.avg_px, D("0.01"))
    by_instrument = {d["instrument_id"]: d for d in differences}
    assert by_instrument["BTC-USDT-SWAP"]["size"] == {"local": D(0), "exchange": D("3")}
    assert by_instrument["BTC-USDT"]["corrected"] is False
    assert by_instrument["BTC-USDT"]["holding"]["exchange"] == D("10")  # the simulator's starting BTC
    assert [d["instrument_id"] for d in again] == ["BTC-USDT"]  # the swap now agrees; spot is still reported
    events = (
        (
            await db_session.execute(
                select(ExecutionEvent).where(ExecutionEvent.event_type == ExecutionEventType.POSITION_SYNCED)
            )
        )
        .scalars()
        .all()
    )
    assert len(events) == 3
    assert events[0].data["size"] == {"local": "0", "exchange": "3"}
