"""The order state machine: the table, the stale-message rule, and no regression under any message order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.models.trading import OrderStatus
from app.services.trading.order_state import TRANSITIONS, OrderTrigger, next_status, trigger_for_exchange_state

S, T = OrderStatus, OrderTrigger
# How far along its life an order is; only a refused cancel may step back (to the working status it had).
RANK = {S.PENDING_SUBMIT: 0, S.UNKNOWN: 1, S.LIVE: 2, S.PARTIALLY_FILLED: 3, S.PENDING_CANCEL: 4}
TERMINAL = {S.FILLED, S.CANCELED, S.REJECTED, S.FAILED, S.EXPIRED}


def rank(status: OrderStatus) -> int:
    return RANK.get(status, 5)


def test_terminal_statuses_have_no_way_out() -> None:
    for (current, _), _target in TRANSITIONS.items():
        assert current not in TERMINAL
    for status in TERMINAL:
        assert status.is_terminal
        for trigger in OrderTrigger:
            assert next_status(status, trigger) is None


def test_every_move_goes_forward_except_a_refused_cancel() -> None:
    for (current, trigger), target in TRANSITIONS.items():
        if trigger is T.CANCEL_REFUSED:
            assert (current, target) == (S.PENDING_CANCEL, S.LIVE)  # (UNKNOWN when never acknowledged)
        else:
            assert rank(target) >= rank(current), (current, trigger, target)


@pytest.mark.parametrize(
    ("current", "trigger", "expected"),
    [
        (S.PENDING_SUBMIT, T.ACCEPTED, S.LIVE),
        (S.PENDING_SUBMIT, T.SUBMIT_OUTCOME_UNKNOWN, S.UNKNOWN),
        (S.UNKNOWN, T.ACCEPTED, S.LIVE),  # reconciled: it was there
        (S.UNKNOWN, T.CONFIRMED_ABSENT, S.FAILED),
        (S.PENDING_SUBMIT, T.REJECTED, S.REJECTED),
        (S.PENDING_SUBMIT, T.FILLED, S.FILLED),  # the push beat the ack
        (S.LIVE, T.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, T.ACCEPTED, None),  # a late "live" does not undo fills
        (S.FILLED, T.PARTIALLY_FILLED, None),  # a late partial push after the fill
        (S.LIVE, T.CANCEL_REQUESTED, S.PENDING_CANCEL),
        (S.PENDING_CANCEL, T.PARTIALLY_FILLED, S.PENDING_CANCEL),
        (S.PENDING_CANCEL, T.FILLED, S.FILLED),  # it filled before the cancel took effect
        (S.PENDING_CANCEL, T.CANCELED, S.CANCELED),
        (S.CANCELED, T.FILLED, None),  # a stale fill push: recorded, status unchanged
        (S.LIVE, T.EXPIRED, S.EXPIRED),
        (S.LIVE, T.SUBMIT_OUTCOME_UNKNOWN, None),
    ],
)
def test_table_cases(current: OrderStatus, trigger: OrderTrigger, expected: OrderStatus | None) -> None:
    assert next_status(current, trigger) == expected


def test_cancel_of_an_unacknowledged_order() -> None:
    assert next_status(S.PENDING_CANCEL, T.CANCEL_REFUSED, acknowledged=False) == S.UNKNOWN
    assert next_status(S.PENDING_CANCEL, T.CONFIRMED_ABSENT) == S.FAILED
    assert next_status(S.PENDING_CANCEL, T.REJECTED) == S.REJECTED  # its place refused after the cancel was asked


def test_ack_or_refused_cancel_never_hides_fills() -> None:
    assert next_status(S.UNKNOWN, T.ACCEPTED, has_fills=True) == S.PARTIALLY_FILLED
    assert next_status(S.PENDING_CANCEL, T.CANCEL_REFUSED, has_fills=True) == S.PARTIALLY_FILLED
    assert next_status(S.PENDING_CANCEL, T.CANCEL_REFUSED) == S.LIVE


def test_okx_states_map_to_triggers() -> None:
    assert trigger_for_exchange_state("live") is T.ACCEPTED
    assert trigger_for_exchange_state("partially_filled") is T.PARTIALLY_FILLED
    assert trigger_for_exchange_state("filled") is T.FILLED
    assert trigger_for_exchange_state("canceled") is T.CANCELED
    assert trigger_for_exchange_state("mmp_canceled") is T.CANCELED
    assert trigger_for_exchange_state("something_new") is None  # mapped defensively, never a KeyError


def _run(messages: list[OrderTrigger]) -> tuple[OrderStatus, list[OrderStatus]]:
    status, seen = S.PENDING_SUBMIT, [S.PENDING_SUBMIT]
    for trigger in messages:
        target = next_status(status, trigger)
        if target is not None:
            status = target
            seen.append(status)
    return status, seen


LIFECYCLES = [
    [T.ACCEPTED, T.PARTIALLY_FILLED, T.PARTIALLY_FILLED, T.FILLED],
    [T.ACCEPTED, T.PARTIALLY_FILLED, T.CANCELED],
    [T.SUBMIT_OUTCOME_UNKNOWN, T.ACCEPTED, T.FILLED],
    [T.ACCEPTED, T.CANCEL_REQUESTED, T.PARTIALLY_FILLED, T.FILLED],
    [T.REJECTED],
]


@given(st.sampled_from(LIFECYCLES).flatmap(lambda msgs: st.permutations(msgs)), st.integers(0, 3))
def test_no_permutation_or_repetition_of_messages_makes_the_state_regress(
    messages: list[OrderTrigger], repeats: int
) -> None:
    delivered = messages + messages[:repeats]  # duplicates, as a WebSocket may redeliver
    _, seen = _run(delivered)
    for before, after in itertools.pairwise(seen):
        assert rank(after) >= rank(before)


@given(st.permutations([T.ACCEPTED, T.PARTIALLY_FILLED, T.PARTIALLY_FILLED, T.FILLED]))
def test_a_filled_order_ends_filled_whatever_the_arrival_order(messages: list[OrderTrigger]) -> None:
    final, _ = _run(list(messages))
    assert final is S.FILLED
