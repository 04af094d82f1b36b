"""The order state machine of DESIGN.md §4, as one table of (status, trigger) → status.

Every status change in the service goes through `transition`. A (status, trigger) pair missing from the table is
a late, repeated or out-of-order message: it changes nothing (its fills are still recorded by the caller — a fill
can arrive after the cancel that ended the order). Terminal statuses have no way out. The one sanctioned step
"back" is a refused cancel, which returns a `pending_cancel` order to the working status it had.
"""

from __future__ import annotations

from enum import StrEnum

from app.models.trading import OrderStatus

__all__ = ["EXCHANGE_REPORTED", "TRANSITIONS", "OrderTrigger", "next_status", "trigger_for_exchange_state"]

S = OrderStatus
# Statuses only the exchange can report: reaching one means the exchange has the order (it is acknowledged).
EXCHANGE_REPORTED = frozenset({S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED})


class OrderTrigger(StrEnum):
    SUBMIT_OUTCOME_UNKNOWN = "submit_outcome_unknown"  # timeout, lost answer, 5xx, 50004
    ACCEPTED = "accepted"  # ack with ordId, or the exchange reports it live
    REJECTED = "rejected"  # the exchange refused it (sCode != 0)
    CONFIRMED_ABSENT = "confirmed_absent"  # not found after its expTime: it can never appear
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REFUSED = "cancel_refused"  # the exchange refused the cancel while the order still works
    CANCELED = "canceled"
    EXPIRED = "expired"


T = OrderTrigger
_OPEN_BEFORE_ACK = (S.PENDING_SUBMIT, S.UNKNOWN)
_WORKING = (S.LIVE, S.PARTIALLY_FILLED)


def _table() -> dict[tuple[OrderStatus, OrderTrigger], OrderStatus]:
    table: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = {
        (S.PENDING_SUBMIT, T.SUBMIT_OUTCOME_UNKNOWN): S.UNKNOWN
    }
    for status in _OPEN_BEFORE_ACK:
        table[(status, T.ACCEPTED)] = S.LIVE
        table[(status, T.REJECTED)] = S.REJECTED
        table[(status, T.CONFIRMED_ABSENT)] = S.FAILED
        table[(status, T.CANCEL_REQUESTED)] = S.PENDING_CANCEL
    for status in (*_OPEN_BEFORE_ACK, S.LIVE):
        table[(status, T.PARTIALLY_FILLED)] = S.PARTIALLY_FILLED
    # Once a cancel is asked for, fills keep arriving but the status waits for the exchange's verdict.
    table[(S.PENDING_CANCEL, T.PARTIALLY_FILLED)] = S.PENDING_CANCEL
    for status in _WORKING:
        table[(status, T.CANCEL_REQUESTED)] = S.PENDING_CANCEL
    table[(S.PENDING_CANCEL, T.CANCEL_REFUSED)] = S.LIVE  # adjusted by `next_status`: fills, acknowledgement
    # A cancel asked for an order the exchange never acknowledged, and then proven absent: it never existed.
    table[(S.PENDING_CANCEL, T.CONFIRMED_ABSENT)] = S.FAILED
    # ... or the exchange's answer to its place, a refusal, comes after the cancel was asked: it is `rejected` with
    # OKX's code (without this move it waited for its expTime and ended `failed`, the code lost).
    table[(S.PENDING_CANCEL, T.REJECTED)] = S.REJECTED
    for status in (*_OPEN_BEFORE_ACK, *_WORKING, S.PENDING_CANCEL):
        table[(status, T.FILLED)] = S.FILLED
        table[(status, T.CANCELED)] = S.CANCELED
        table[(status, T.EXPIRED)] = S.EXPIRED
    return table


TRANSITIONS: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = _table()


def next_status(
    current: OrderStatus, trigger: OrderTrigger, *, has_fills: bool = False, acknowledged: bool = True
) -> OrderStatus | None:
    """The status after `trigger`, or None when the table has no such move (stale message: change nothing)."""
    target = TRANSITIONS.get((current, trigger))
    if trigger is T.CANCEL_REFUSED and target is S.LIVE and not acknowledged:
        return S.UNKNOWN  # back to what it was: not yet acknowledged, still to be reconciled
    if target is S.LIVE and has_fills:
        return S.PARTIALLY_FILLED  # an ack or refused cancel never hides fills already seen
    return target


_EXCHANGE_STATES = {
    "live": T.ACCEPTED,
    "partially_filled": T.PARTIALLY_FILLED,
    "filled": T.FILLED,
    "canceled": T.CANCELED,
    "mmp_canceled": T.CANCELED,
    "order_failed": T.REJECTED,
}


def trigger_for_exchange_state(state: str) -> OrderTrigger | None:
    """OKX's order `state` as a trigger (the one place OKX's states are mapped); unknown states map to None."""
    return _EXCHANGE_STATES.get(state)
