"""Regular reconciliation: a position changed behind the service's back on the simulator is found. A dry run
(`POST /positions/sync?dry_run=true`) lists it and changes nothing; the leader's scheduled job corrects it and
records the event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest

from app.services.trading.reconciliation import reconcile_with_exchange
from tests.integration.api.conftest import Api, _prepared, serve

SWAP = "BTC-USDT-SWAP"
BASE = "/api/v1/trading"


@asynccontextmanager
async def _service(database_url: str, reconcile_interval_s: float) -> AsyncIterator[Api]:
    async with serve(database_url, await _prepared(database_url), reconcile_interval_s=reconcile_interval_s) as api:
        yield api


async def _long_one_contract(api: Api) -> None:
    signal = {"strategy_id": "rec", "instrument_id": SWAP, "side": "buy", "size": "1"}
    placed = await api.client.post(f"{BASE}/signals", json=signal, headers=api.as_("trade"))
    assert placed.status_code == 201, placed.text
    await api.app.state.trading.tracker.reconcile(placed.json()["id"])


def _changed_behind_our_back(api: Api) -> None:
    api.app.state.exchange.simulator.exchange.positions[SWAP].pos = Decimal("3")


async def _local_size(api: Api) -> Decimal:
    answer = await api.client.get(f"{BASE}/positions/{SWAP}", headers=api.as_("read"))
    return Decimal(answer.json()["size"])


async def _synced_events(api: Api) -> list[dict]:
    page = await api.client.get(f"{BASE}/events", params={"event_type": "position_synced"}, headers=api.as_("read"))
    return page.json()["items"]


async def test_a_dry_run_lists_the_difference_and_changes_nothing(empty_database_url: str) -> None:
    async with _service(empty_database_url, reconcile_interval_s=3600) as api:
        await _long_one_contract(api)
        _changed_behind_our_back(api)

        dry = await api.client.post(f"{BASE}/positions/sync", params={"dry_run": "true"}, headers=api.as_("trade"))

        assert dry.status_code == 200, dry.text
        [difference] = [d for d in dry.json()["differences"] if d["instrument_id"] == SWAP]
        assert difference["size"] == {"local": "1", "exchange": "3"}
        assert await _local_size(api) == Decimal("1")
        assert await _synced_events(api) == []


async def test_the_scheduled_job_corrects_it_and_records_the_event(empty_database_url: str) -> None:
    async with _service(empty_database_url, reconcile_interval_s=0.3) as api:
        await _long_one_contract(api)
        _changed_behind_our_back(api)

        await _until(lambda: _local_size(api), lambda size: size == Decimal("3"))
        # A run between the fill and the change may first record the margin and leverage the fills do not carry:
        # the event that matters is the one that corrected the size.
        [event] = [e for e in await _synced_events(api) if "size" in e["data"]]

    assert event["instrument_id"] == SWAP
    assert event["data"]["size"] == {"local": "1", "exchange": "3"}


async def test_orders_placed_or_finished_while_the_lists_are_read_are_not_differences(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the regular job read the exchange's list, then ours, and reported (then corrected by REST) every
    order placed in between as "not open" there. Ours is read first now, and an order that looks different is read
    again once the tracker has applied what it received."""
    runtime = api.app.state.trading
    listing = runtime.okx.trade.iter_pending_orders

    async def place(price: str) -> int:
        body = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": price}
        answer = await api.client.post(f"{BASE}/orders", json=body, headers=api.as_("trade"))
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    resting, finishing = await place("49000"), await place("48900")
    placed: list[int] = []

    async def while_listed(**filters: Any) -> AsyncIterator[Any]:
        placed.append(await place("48800"))  # after our read, before the exchange's list: in it
        canceled = await api.client.delete(f"{BASE}/orders/{finishing}", headers=api.as_("trade"))
        assert canceled.status_code == 200, canceled.text
        async for snapshot in listing(**filters):
            yield snapshot
        placed.append(await place("48700"))  # after the exchange's list: in neither

    monkeypatch.setattr(runtime.okx.trade, "iter_pending_orders", while_listed)
    result = await reconcile_with_exchange(runtime.okx, runtime.session_factory, runtime.tracker, dry_run=True)

    assert len(placed) == 2 and resting not in placed
    assert result.orders == []


async def _until(fetch: Callable, predicate: Callable, timeout_s: float = 10) -> None:  # type: ignore[type-arg]
    async with asyncio.timeout(timeout_s):
        while not predicate(await fetch()):
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("closed_on_the_exchange", [False, True])
async def test_a_sync_does_not_correct_in_a_fill_whose_push_is_on_its_way(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, closed_on_the_exchange: bool
) -> None:
    """The exchange's positions count a fill whose push has not been applied here yet. Corrected to them, the
    position would take that fill twice when its push lands: a long closed on the exchange became a short here,
    its realized PnL lost. The sync reports the difference as awaiting that fill and leaves it to the push."""
    async with _service(empty_database_url, reconcile_interval_s=3600) as api:
        await _long_one_contract(api)
        tracker = api.app.state.trading.tracker
        socket = tracker._ws
        deliver = socket._on_event
        on_their_way: list[Any] = []  # pushes the exchange has sent that have not reached the tracker yet

        async def delayed(event: Any) -> None:
            on_their_way.append(event)

        monkeypatch.setattr(socket, "_on_event", delayed)
        size = "1" if closed_on_the_exchange else "0.5"  # flat there (not listed) or still long
        sell = {"strategy_id": "rec", "instrument_id": SWAP, "side": "sell", "size": size}
        sold = await api.client.post(f"{BASE}/signals", json=sell, headers=api.as_("trade"))
        assert sold.status_code == 201, sold.text

        synced = await api.client.post(f"{BASE}/positions/sync", headers=api.as_("trade"))
        assert synced.status_code == 200, synced.text
        [difference] = [d for d in synced.json()["differences"] if d["instrument_id"] == SWAP]
        assert difference["corrected"] is False and difference["awaiting_fill"]
        assert await _local_size(api) == Decimal("1")  # left to the fill, not corrected

        socket._on_event = deliver
        for event in on_their_way:  # they arrive
            await deliver(event)
        await tracker.settled()
        position = (await api.client.get(f"{BASE}/positions/{SWAP}", headers=api.as_("read"))).json()
        assert Decimal(position["size"]) == Decimal(1) - Decimal(size)  # the sell counted once: no short
        trades = (await api.client.get(f"{BASE}/trades", headers=api.as_("read"))).json()["items"]
        sell_trade = trades[0]  # newest first
        assert len(trades) == 2 and Decimal(sell_trade["closed_size"]) == Decimal(size)  # it closed what it sold
