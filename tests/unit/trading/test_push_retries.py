"""Which failed push the order tracker still owes a retry (`OrderTracker._to_retry`): the newest one of each order,
until that one or a newer push of the order has been applied."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from app.services.okx.client import OKXClient
from app.services.trading.order_tracker import MAX_PUSH_RETRIES, OrderTracker


def _tracker() -> OrderTracker:
    return OrderTracker(cast(OKXClient, SimpleNamespace(credentials=None)))  # neither exchange nor database used


def _push(u_time: int, state: str) -> dict[str, str]:
    return {"ordId": "7", "clOrdId": "c7", "uTime": str(u_time), "state": state}


def test_an_older_push_applied_late_does_not_cancel_the_retry_of_a_newer_one() -> None:
    tracker = _tracker()
    tracker._retry_later(_push(2_000, "filled"), 0)
    tracker._forget_retry_older_than(_push(1_000, "live"))  # reordered: the older one succeeded after it
    assert tracker._to_retry["7"][0]["state"] == "filled"
    tracker._forget_retry_older_than(_push(2_000, "filled"))
    assert "7" not in tracker._to_retry


def test_a_push_that_keeps_failing_is_given_up_after_its_retries() -> None:
    tracker = _tracker()
    tracker._retry_later(_push(1_000, "filled"), MAX_PUSH_RETRIES - 1)
    assert "7" in tracker._to_retry
    tracker._to_retry.clear()
    tracker._retry_later(_push(1_000, "filled"), MAX_PUSH_RETRIES)  # left to the leader's reconciliation
    assert "7" not in tracker._to_retry
