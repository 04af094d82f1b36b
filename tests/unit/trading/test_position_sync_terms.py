"""The exchange's position in this record's terms, as a position sync compares them (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.models.trading import Position, PositionSide
from app.services.okx.models import PositionInfo
from app.services.trading.position_manager import PositionManager

D = Decimal


def _remote(pos: str, pos_side: str) -> PositionInfo:
    return PositionInfo.model_validate(
        {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": pos_side, "pos": pos, "avgPx": "50000"}
    )


@pytest.mark.parametrize(
    ("pos_side", "pos", "local_size"),
    [
        ("net", "-2", D("-2")),  # net mode: OKX signs the size
        ("short", "2", D("-2")),  # long/short mode: OKX reports a short's pos positive; here a short is negative
        ("long", "2", D("2")),
    ],
)
def test_a_position_that_agrees_with_the_exchange_shows_no_difference(
    pos_side: str, pos: str, local_size: Decimal
) -> None:
    local = Position(
        instrument_id="BTC-USDT-SWAP",
        position_side=PositionSide(pos_side),
        size=local_size,
        average_entry_price=D("50000"),
    )

    assert PositionManager._differences(local, _remote(pos, pos_side)) == {}


def test_a_short_in_long_short_mode_is_corrected_to_a_negative_size() -> None:
    local = Position(instrument_id="BTC-USDT-SWAP", position_side=PositionSide.SHORT, size=D("-1"))

    changes = PositionManager._correct(local, _remote("3", "short"))

    assert changes["size"] == {"local": D("-1"), "exchange": D("-3")} and local.size == D("-3")
