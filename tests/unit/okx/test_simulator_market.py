"""The simulator's synthetic book (`SyntheticMarket`): what takers consume moves the best price."""

from __future__ import annotations

import random
from decimal import Decimal

from app.services.okx.simulator.instruments import DEFAULT_INSTRUMENTS
from app.services.okx.simulator.market import SyntheticMarket


def test_the_best_price_is_the_first_level_with_size_left_on_either_side() -> None:
    market = SyntheticMarket(DEFAULT_INSTRUMENTS[0], random.Random(7), levels=3)
    for side in ("ask", "bid"):
        levels = market.levels_for(side)
        assert len(levels) == 3 and market.best(side) == levels[0][1]
        (first, _, first_size), second_price = levels[0], levels[1][1]
        market.consume(side, first, first_size - Decimal("0.00000001"))  # a sliver left: still the best
        assert market.best(side) == levels[0][1] == market.levels_for(side)[0][1]
        market.consume(side, first, Decimal("0.00000001"))  # the level used up: the next one is
        assert market.best(side) == second_price == market.levels_for(side)[0][1]
        for index, _, available in market.levels_for(side):
            market.consume(side, index, available)
        assert market.best(side) is None and market.levels_for(side) == []
