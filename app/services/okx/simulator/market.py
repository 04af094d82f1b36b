"""A seeded synthetic market per instrument: a mid-price path and resting liquidity around it.

The liquidity is not stored as orders: each side has `levels` price levels stepping away from the mid, with sizes
growing with distance, recomputed whenever the mid moves. What takers consume at a level stays consumed until the
next move, so a large market order walks the book (slippage) and a second one in the same instant pays more.
Everything derives from the seed: the same seed and the same orders give the same fills.
"""

from __future__ import annotations

import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from app.services.okx.simulator.instruments import SimInstrument

__all__ = ["SyntheticMarket"]


class SyntheticMarket:
    def __init__(
        self,
        instrument: SimInstrument,
        rng: random.Random,
        *,
        levels: int = 25,
        half_spread_bps: Decimal = Decimal("1"),
        level_step_bps: Decimal = Decimal("1"),
        top_size_quote: Decimal = Decimal("20000"),
        volatility_bps: float = 5.0,
    ) -> None:
        self.instrument = instrument
        self._rng = rng
        self.levels = levels
        self.half_spread_bps = half_spread_bps
        self.level_step_bps = level_step_bps
        self.top_size_quote = top_size_quote
        self.volatility_bps = volatility_bps
        self.mid = instrument.start_price
        self.last = instrument.start_price
        self.last_sz = Decimal(0)
        self.open24h = instrument.start_price
        self.high24h = instrument.start_price
        self.low24h = instrument.start_price
        self.vol24h = Decimal(0)
        self._consumed: dict[tuple[str, int], Decimal] = {}
        self._ladder_cache: dict[str, list[tuple[Decimal, Decimal]]] = {}

    # --- price path -----------------------------------------------------------------------------------------

    def step(self) -> Decimal:
        """Advance the path one step: a seeded Gaussian move of `volatility_bps` (rounded to the tick)."""
        move_bps = Decimal(str(round(self._rng.gauss(0.0, self.volatility_bps), 4)))
        return self.set_mid(self.mid * (1 + move_bps / 10000))

    def set_mid(self, price: Decimal) -> Decimal:
        tick = self.instrument.tick_sz
        price = max(tick, (price / tick).to_integral_value() * tick)
        if price != self.mid:
            self.mid = price
            self._consumed.clear()
            self._ladder_cache.clear()
            self.high24h = max(self.high24h, price)
            self.low24h = min(self.low24h, price)
        return self.mid

    # --- liquidity ------------------------------------------------------------------------------------------

    def _round(self, price: Decimal, rounding: str) -> Decimal:
        tick = self.instrument.tick_sz
        return (price / tick).to_integral_value(rounding=rounding) * tick

    def _ladder(self, side: str) -> list[tuple[Decimal, Decimal]]:
        """(price, full size) of each synthetic level on `side` ("ask" or "bid"), best first."""
        cached = self._ladder_cache.get(side)
        if cached is not None:
            return cached
        instrument = self.instrument
        ladder: list[tuple[Decimal, Decimal]] = []
        previous: Decimal | None = None
        for index in range(self.levels):
            offset = (self.half_spread_bps + self.level_step_bps * index) / 10000
            if side == "ask":
                price = self._round(self.mid * (1 + offset), ROUND_CEILING)
                if previous is not None and price <= previous:
                    price = previous + instrument.tick_sz
            else:
                price = self._round(self.mid * (1 - offset), ROUND_FLOOR)
                if previous is not None and price >= previous:
                    price = previous - instrument.tick_sz
                if price <= 0:
                    break
            previous = price
            quote = self.top_size_quote * (1 + Decimal(index) / 2)
            size = (quote / (price * instrument.multiplier) / instrument.lot_sz).to_integral_value(ROUND_FLOOR)
            ladder.append((price, size * instrument.lot_sz))
        self._ladder_cache[side] = ladder
        return ladder

    def levels_for(self, side: str) -> list[tuple[int, Decimal, Decimal]]:
        """(level index, price, size still available) on `side`, best first, empty levels left out."""
        result = []
        for index, (price, size) in enumerate(self._ladder(side)):
            available = size - self._consumed.get((side, index), Decimal(0))
            if available > 0:
                result.append((index, price, available))
        return result

    def consume(self, side: str, index: int, size: Decimal) -> None:
        key = (side, index)
        self._consumed[key] = self._consumed.get(key, Decimal(0)) + size

    def best(self, side: str) -> Decimal | None:
        """The best price with size left on `side` (`levels_for`'s first, without building the rest: it is asked
        for every order placed)."""
        consumed = self._consumed
        for index, (price, size) in enumerate(self._ladder(side)):
            if size - consumed.get((side, index), Decimal(0)) > 0:
                return price
        return None

    def record_trade(self, price: Decimal, size: Decimal) -> None:
        self.last = price
        self.last_sz = size
        self.vol24h += size
        self.high24h = max(self.high24h, price)
        self.low24h = min(self.low24h, price)
