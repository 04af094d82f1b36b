"""How a parent order is cut into child orders, exactly, under the instrument's lot size and minimum size.

Every child is a multiple of `lotSz` and at least `minSz`; what cannot be spread evenly is carried to later slices;
the last slice takes whatever is left; the children always add up to the target, never more. (The first building
block of the execution strategies; the strategies that use it arrive with issue 7.)
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

__all__ = ["align_down", "next_slice", "split_evenly", "visible_size"]


def align_down(size: Decimal, lot: Decimal) -> Decimal:
    """The largest multiple of `lot` not above `size`."""
    return (size / lot).to_integral_value(ROUND_FLOOR) * lot


def split_evenly(total: Decimal, slices: int, lot: Decimal, min_size: Decimal) -> list[Decimal]:
    """`total` in at most `slices` lot-aligned children of at least `min_size`, as even as the lot allows.

    The lots that do not divide evenly go one each to the first slices (so sizes differ by at most one lot); when
    slices would fall below `min_size`, fewer and larger slices are used.
    """
    if slices < 1:
        raise ValueError("slices must be at least 1")
    if lot <= 0 or min_size <= 0:
        raise ValueError("lot and min_size must be positive")
    if total <= 0 or total % lot != 0:
        raise ValueError(f"total {total} must be a positive multiple of the lot size {lot}")
    if total < min_size:
        raise ValueError(f"total {total} is below the instrument's minimum size {min_size}")
    lots = int(total / lot)
    min_lots = int((min_size / lot).to_integral_value(rounding="ROUND_CEILING"))
    count = max(1, min(slices, lots // min_lots))
    base, extra = divmod(lots, count)
    return [lot * (base + (1 if index < extra else 0)) for index in range(count)]


def next_slice(remaining: Decimal, slices_left: int, lot: Decimal, min_size: Decimal) -> Decimal:
    """The next child when `slices_left` remain to place `remaining` (what earlier children did not fill is
    carried here): an even share aligned to the lot, at least `min_size`, the last one everything that is left."""
    if slices_left < 1:
        raise ValueError("no slices left")
    if remaining <= 0:
        return Decimal(0)
    if slices_left == 1:
        return remaining
    share = align_down(remaining / slices_left, lot)
    size = max(share, min_size)
    return min(size, remaining)


def visible_size(total: Decimal, visible_pct: Decimal, lot: Decimal, min_size: Decimal) -> Decimal:
    """An iceberg's showing size: at most `visible_pct` of the total, lot-aligned, never below the minimum size
    (an iceberg too small to show less than `minSz` cannot be hidden and is refused)."""
    if not Decimal(0) < visible_pct <= 1:
        raise ValueError("visible_pct must be in (0, 1]")
    size = align_down(total * visible_pct, lot)
    if size < min_size:
        raise ValueError(
            f"{visible_pct:%} of {total} is below the minimum size {min_size}: the order is too small to hide"
        )
    return size
