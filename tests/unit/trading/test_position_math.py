"""Average-cost position arithmetic: cases computed by hand, and properties over random fill sequences."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.trading.position_math import PositionState, apply_fill, unrealized_pnl

D = Decimal


def test_open_and_scale_in_averages_the_cost() -> None:
    opened = apply_fill(PositionState(), D("0.1"), D("50000"))
    scaled = apply_fill(opened.state, D("0.3"), D("51000"))

    assert opened.opened and opened.state == PositionState(D("0.1"), D("50000"), D(0))
    # (0.1·50000 + 0.3·51000) / 0.4 = 20300 / 0.4 = 50750
    assert scaled.state == PositionState(D("0.4"), D("50750"), D(0))
    assert (scaled.realized, scaled.closed_size, scaled.opened) == (D(0), D(0), False)


def test_partial_close_realizes_on_the_closed_part_only() -> None:
    position = PositionState(D("0.4"), D("50750"), D(0))

    effect = apply_fill(position, D("-0.1"), D("52000"))

    # 0.1 · (52000 − 50750) = 125
    assert (effect.realized, effect.closed_size) == (D("125"), D("0.1"))
    assert effect.state == PositionState(D("0.3"), D("50750"), D("125"))
    assert not effect.closed and not effect.flipped


def test_flip_from_long_to_short_opens_the_rest_at_the_fill_price() -> None:
    position = PositionState(D("0.3"), D("50750"), D("125"))

    effect = apply_fill(position, D("-0.5"), D("50000"))

    # closes 0.3 at −750 each = −225; the other 0.2 opens short at 50000
    assert (effect.realized, effect.closed_size, effect.flipped, effect.opened) == (D("-225"), D("0.3"), True, True)
    assert effect.state == PositionState(D("-0.2"), D("50000"), D("-100"))


def test_closing_to_flat_clears_the_average() -> None:
    effect = apply_fill(PositionState(D("-0.2"), D("50000"), D(0)), D("0.2"), D("49000"))

    assert effect.closed and effect.state == PositionState(D(0), None, D("200"))  # short gained 0.2 · 1000


def test_linear_swap_uses_ct_val() -> None:
    # 10 contracts of 0.01 BTC short at 50000, 4 bought back at 49000: 4 · 0.01 · 1000 = 40
    short = apply_fill(PositionState(), D("-10"), D("50000"), D("0.01")).state
    effect = apply_fill(short, D("4"), D("49000"), D("0.01"))

    assert effect.realized == D("40")
    assert unrealized_pnl(effect.state, D("48000"), D("0.01")) == D("-6") * D("0.01") * D("-2000")


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        apply_fill(PositionState(), D("1"), D("0"))
    assert apply_fill(PositionState(), D("0"), D("1")).state == PositionState()


prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=D("-5"), max_value=D("5"), places=4, allow_nan=False, allow_infinity=False)
multipliers = st.sampled_from([D(1), D("0.01"), D("0.1")])


@given(st.lists(st.tuples(quantities, prices), min_size=1, max_size=40), prices, multipliers)
def test_size_is_the_sum_of_fills_and_pnl_matches_cash_flows(
    fills: list[tuple[Decimal, Decimal]], mark: Decimal, multiplier: Decimal
) -> None:
    state = PositionState()
    realized_from_effects = D(0)
    for quantity, price in fills:
        effect = apply_fill(state, quantity, price, multiplier)
        with localcontext(prec=40):  # the precision the arithmetic itself uses
            realized_from_effects += effect.realized
        state = effect.state
        assert (state.average_price is None) == (state.size == 0)

    assert state.size == sum((q for q, _ in fills), D(0))
    assert state.realized_pnl == realized_from_effects
    # Realized + unrealized = what the cash flows say the fills earned, marked at `mark`.
    cash_flow_pnl = sum((-q * p * multiplier for q, p in fills), D(0)) + state.size * mark * multiplier
    total = state.realized_pnl + unrealized_pnl(state, mark, multiplier)
    assert abs(total - cash_flow_pnl) <= D("1E-20") * (1 + abs(cash_flow_pnl))
