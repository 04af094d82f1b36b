"""Position arithmetic of DESIGN.md §5 (average cost), pure and exact: the one place it is written.

For a fill of signed quantity q (buy +, sell −) at price p on a position of size s with average entry a and
contract multiplier m (1 for spot, ctVal for linear contracts):
- same direction or flat: a ← (|s|·a + |q|·p) / (|s| + |q|), s ← s + q;
- reducing: closed = min(|q|, |s|), realized += closed·m·(p − a)·sign(s); s ← s + q; when the sign flips the
  remainder opens at p; when s reaches 0 the position is closed and the average cleared.
Unrealized = s·m·(mark − a). Fees are not netted here: the caller charges them into the trade's realized PnL.
Arithmetic runs at 40 significant digits, so averages of prices with 8+ decimals keep every digit that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

__all__ = ["FillEffect", "PositionState", "apply_fill", "unrealized_pnl"]

_CONTEXT = Context(prec=40)
ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionState:
    size: Decimal = ZERO  # signed
    average_price: Decimal | None = None
    realized_pnl: Decimal = ZERO  # gross of fees

    @property
    def is_flat(self) -> bool:
        return self.size == 0


@dataclass(frozen=True)
class FillEffect:
    state: PositionState
    realized: Decimal  # PnL of the part this fill closed (gross of fees)
    closed_size: Decimal  # how much of the position this fill reduced
    opened: bool  # a flat position became non-flat (incl. the opening side of a flip)
    closed: bool  # the position became flat
    flipped: bool  # went from long to short or back in one fill


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def apply_fill(state: PositionState, quantity: Decimal, price: Decimal, multiplier: Decimal = Decimal(1)) -> FillEffect:
    """The position after a fill of signed `quantity` at `price`."""
    if quantity == 0:
        return FillEffect(state, ZERO, ZERO, False, False, False)
    if price <= 0 or multiplier <= 0:
        raise ValueError("fill price and multiplier must be positive")
    size = state.size
    ctx = _CONTEXT
    if size == 0 or _sign(size) == _sign(quantity):
        average = state.average_price if state.average_price is not None else price
        total = ctx.add(abs(size), abs(quantity))
        new_average = ctx.divide(ctx.add(ctx.multiply(abs(size), average), ctx.multiply(abs(quantity), price)), total)
        new_state = PositionState(ctx.add(size, quantity), new_average, state.realized_pnl)
        return FillEffect(new_state, ZERO, ZERO, opened=size == 0, closed=False, flipped=False)

    assert state.average_price is not None
    closed = min(abs(quantity), abs(size))
    realized = ctx.multiply(
        ctx.multiply(ctx.multiply(closed, multiplier), ctx.subtract(price, state.average_price)), _sign(size)
    )
    new_size = ctx.add(size, quantity)
    flipped = new_size != 0 and _sign(new_size) != _sign(size)
    if new_size == 0:
        average: Decimal | None = None
    elif flipped:
        average = price  # the remainder opens at the fill price
    else:
        average = state.average_price
    new_state = PositionState(new_size, average, ctx.add(state.realized_pnl, realized))
    return FillEffect(new_state, realized, closed, opened=flipped, closed=new_size == 0, flipped=flipped)


def unrealized_pnl(state: PositionState, mark: Decimal, multiplier: Decimal = Decimal(1)) -> Decimal:
    if state.size == 0 or state.average_price is None:
        return ZERO
    return _CONTEXT.multiply(_CONTEXT.multiply(state.size, multiplier), _CONTEXT.subtract(mark, state.average_price))
