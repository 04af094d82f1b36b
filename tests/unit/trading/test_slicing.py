"""Slicing a parent order: exact sums, lot alignment, minimum sizes, remainders carried, never over the target."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.trading.execution_strategies.slicing import align_down, next_slice, split_evenly, visible_size

D = Decimal


def test_even_split_carries_the_remainder_to_the_first_slices() -> None:
    assert split_evenly(D("1"), 3, D("0.01"), D("0.01")) == [D("0.34"), D("0.33"), D("0.33")]
    assert split_evenly(D("10"), 4, D("1"), D("1")) == [D("3"), D("3"), D("2"), D("2")]


def test_fewer_slices_when_even_ones_would_be_below_the_minimum() -> None:
    assert split_evenly(D("0.05"), 10, D("0.01"), D("0.02")) == [D("0.03"), D("0.02")]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of the lot"):
        split_evenly(D("1.005"), 2, D("0.01"), D("0.01"))
    with pytest.raises(ValueError, match="minimum"):
        split_evenly(D("0.01"), 2, D("0.01"), D("0.02"))
    with pytest.raises(ValueError, match="slices"):
        split_evenly(D("1"), 0, D("0.01"), D("0.01"))


def test_next_slice_takes_everything_on_the_last_one() -> None:
    assert next_slice(D("1"), 3, D("0.01"), D("0.01")) == D("0.33")
    assert next_slice(D("0.67"), 2, D("0.01"), D("0.01")) == D("0.33")
    assert next_slice(D("0.34"), 1, D("0.01"), D("0.01")) == D("0.34")
    assert next_slice(D("0.015"), 2, D("0.01"), D("0.01")) == D("0.01")
    assert next_slice(D("0"), 2, D("0.01"), D("0.01")) == D("0")


def test_visible_size() -> None:
    assert visible_size(D("5"), D("0.1"), D("0.01"), D("0.01")) == D("0.5")
    assert visible_size(D("0.999"), D("0.1"), D("0.001"), D("0.001")) == D("0.099")
    with pytest.raises(ValueError, match="visible_pct"):
        visible_size(D("5"), D("1.5"), D("0.01"), D("0.01"))
    with pytest.raises(ValueError, match="too small to hide"):
        visible_size(D("0.05"), D("0.1"), D("0.01"), D("0.01"))


lots = st.sampled_from([D("1"), D("0.01"), D("0.00000001"), D("0.1")])


@given(st.integers(1, 10_000), st.integers(1, 200), lots, st.integers(1, 5))
def test_split_adds_up_exactly(lot_count: int, slices: int, lot: Decimal, min_lots: int) -> None:
    total = lot * lot_count
    min_size = lot * min(min_lots, lot_count)

    children = split_evenly(total, slices, lot, min_size)

    assert sum(children, D(0)) == total
    assert len(children) <= slices
    assert all(child % lot == 0 and child >= min_size for child in children)
    assert max(children) - min(children) <= lot


@given(st.integers(1, 10_000), st.integers(1, 50), lots)
def test_slice_by_slice_never_exceeds_the_target(lot_count: int, slices: int, lot: Decimal) -> None:
    target = lot * lot_count
    remaining, placed = target, D(0)
    for left in range(slices, 0, -1):
        child = next_slice(remaining, left, lot, lot)
        assert child % lot == 0 and 0 <= child <= remaining
        placed += child
        remaining -= child
    assert placed == target and remaining == 0
    assert align_down(target * D("0.37"), lot) <= target
