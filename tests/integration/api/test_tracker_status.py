"""GET /tracker and /ready with the simulator's WebSocket down: the disconnect and the polling fallback are
reported, /ready turns 503 after the grace period and back to 200 after the reconnect; /metrics has the figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.services.trading.order_tracker import OrderTracker
from app.services.trading.signal import Account
from tests.conftest import fresh_database
from tests.integration.api.conftest import Api, _prepared, serve


@pytest.fixture
async def api_with_short_grace(empty_database_url: str) -> AsyncIterator[Api]:
    async with serve(empty_database_url, await _prepared(empty_database_url), tracker_disconnect_grace_s=1) as api:
        yield api


@asynccontextmanager
async def _every_slot_taken(tracker: OrderTracker) -> AsyncIterator[Callable[[], None]]:
    """Every push slot of the tracker taken, as by pushes ahead of the test's; the yielded call frees them (at the
    latest when the block ends)."""
    slots = tracker._slots._value
    for _ in range(slots):
        await tracker._slots.acquire()
    taken = True

    def free() -> None:
        nonlocal taken
        if taken:
            for _ in range(slots):
                tracker._slots.release()
            taken = False

    try:
        yield free
    finally:
        free()


async def _until(check: Any, timeout_s: float = 10) -> Any:
    async with asyncio.timeout(timeout_s):
        while not (result := await check()):
            await asyncio.sleep(0.1)
    return result


async def test_tracker_reports_a_websocket_outage_and_ready_follows_it(api_with_short_grace: Api) -> None:
    api = api_with_short_grace
    read = api.as_("read")
    simulator = api.app.state.exchange.simulator

    async def tracker() -> dict[str, Any]:
        return (await api.client.get("/api/v1/trading/tracker", headers=read)).json()

    healthy = await tracker()
    assert (healthy["role"], healthy["running"], healthy["websocket_connected"], healthy["polling"]) == (
        "leader",
        True,
        True,
        False,
    )
    assert healthy["websocket_logged_in"] and healthy["websocket_subscribed"]
    assert healthy["seconds_disconnected"] is None and healthy["last_gap_fill_at"] is not None
    assert (await api.client.get("/ready")).status_code == 200

    async with httpx.AsyncClient(base_url=simulator.rest_url) as control:
        assert (await control.post("/sim/v1/faults", json={"ws_down": 1})).status_code == 200
        down = await _until(lambda: _when(tracker, lambda t: not t["websocket_connected"]))
        assert down["polling"] and not down["websocket_subscribed"]
        not_ready = await _until(lambda: _when(lambda: _ready(api), lambda r: r[0] == 503))
        assert "down for" in not_ready[1]["checks"]["order_tracker"]
        assert (await tracker())["seconds_disconnected"] > 1

        assert (await control.post("/sim/v1/faults", json={"ws_down": 0})).status_code == 200
        back = await _until(lambda: _when(tracker, lambda t: t["websocket_connected"]), timeout_s=40)
    assert not back["polling"] and back["seconds_disconnected"] is None and back["reconnects"] >= 1
    assert (await api.client.get("/ready")).status_code == 200
    scraped = (await api.client.get("/metrics", headers=read)).text
    values = {s.name: s.value for f in text_string_to_metric_families(scraped) for s in f.samples}
    assert values["trading_tracker_connected"] == 1 and values["trading_tracker_leader"] == 1
    assert values["trading_tracker_polling"] == 0


async def _ready(api: Api) -> tuple[int, dict[str, Any]]:
    answer = await api.client.get("/ready")
    return answer.status_code, answer.json()


async def _when(fetch: Any, predicate: Any) -> Any:
    value = await fetch()
    return value if predicate(value) else None


async def test_pushes_waiting_to_be_applied_are_reported_until_they_are(api: Api) -> None:
    """While the tracker's slots are all taken (as under load), a pushed fill waits: /tracker and /metrics say how
    many pushes wait and for how long, and the order is not filled in the database yet; once a slot frees, the
    push is applied and its wait is in the histogram."""
    read = api.as_("read")
    async with _every_slot_taken(api.app.state.trading.tracker) as free_slots:
        signal = {"strategy_id": "bot-7", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
        placed = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))
        assert placed.status_code == 201, placed.text

        async def status() -> dict[str, Any]:
            return (await api.client.get("/api/v1/trading/tracker", headers=read)).json()

        waiting = await _until(lambda: _when(status, lambda t: t["pushes_pending"] >= 1))
        await asyncio.sleep(0.2)
        later = await status()
        assert later["pushes_pending"] >= 1 and later["oldest_pending_push_s"] >= 0.2
        assert waiting["oldest_pending_push_s"] is not None
        stored = (await api.client.get(f"/api/v1/trading/orders/{placed.json()['id']}", headers=read)).json()
        assert stored["status"] != "filled"  # the exchange filled it; the database has not heard yet
        values = _metrics((await api.client.get("/metrics", headers=read)).text)
        assert (
            values["trading_tracker_pushes_pending"] >= 1
            and values["trading_tracker_oldest_pending_push_seconds"] >= 0.2
        )
        applied_before = values.get("trading_push_apply_seconds_count", 0)

        free_slots()
        done = await _until(lambda: _when(status, lambda t: t["pushes_pending"] == 0))
        assert done["oldest_pending_push_s"] is None
        order = (await api.client.get(f"/api/v1/trading/orders/{placed.json()['id']}", headers=read)).json()
        assert order["status"] == "filled"
        values = _metrics((await api.client.get("/metrics", headers=read)).text)
        assert values["trading_push_apply_seconds_count"] > applied_before
        assert values["trading_push_apply_seconds_sum"] >= 0.2  # the wait counts
        assert values["trading_tracker_pushes_pending"] == 0


@pytest.fixture
async def api_with_fill_lag_limit(empty_database_url: str) -> AsyncIterator[Api]:
    async with serve(empty_database_url, await _prepared(empty_database_url), max_fill_lag_s=0.3) as api:
        yield api


async def test_a_replica_still_starting_says_so_and_holds_new_orders_until_it_has_started(api: Api) -> None:
    """Just after a (re)start the process serves while its runtime still loads the instruments' rules, prices and
    the trading state: `/ready` says not ready, and a new order waits for the start instead of being refused by the
    risk checks for want of them (after a crash under load: 76 orders refused as `instrument_unknown` or
    `no_market_price` in the first second); past the wait it is 503 `not_ready`, nothing written."""
    trade, read = api.as_("trade"), api.as_("read")
    limit_buy = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49900"}
    runtime = api.app.state.trading
    runtime.started.clear()  # as just after start-up
    try:
        ready = await api.client.get("/ready")
        assert ready.status_code == 503 and "starting" in ready.json()["checks"]["trading"], ready.text
        runtime.admission.start_wait_s = 0.2
        refused = await api.client.post("/api/v1/trading/orders", json=limit_buy, headers=trade)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
        assert refused.json()["error"]["code"] == "not_ready"
        assert (await api.client.get("/api/v1/trading/orders", headers=read)).json()["items"] == []

        runtime.admission.start_wait_s = 30.0
        loaded, runtime.account = runtime.account, Account(equity=Decimal(0))  # nothing loaded yet
        held = asyncio.create_task(api.client.post("/api/v1/trading/orders", json=limit_buy, headers=trade))
        await asyncio.sleep(0.2)
        assert not held.done()
        runtime.account = loaded  # the start loads the account, then says it has started
    finally:
        runtime.started.set()
    placed = await held  # checked against the account as loaded, not as it was when the request came in
    assert placed.status_code == 201, placed.text
    assert (await api.client.get("/ready")).status_code == 200


async def test_new_orders_wait_while_the_fills_are_further_behind_than_the_limit(api_with_fill_lag_limit: Api) -> None:
    """With a push unapplied for longer than MAX_FILL_LAG_S, a new order or signal waits, and if the push is still
    unapplied after as long again, gets 503 `fills_behind` with Retry-After and nothing is written (the risk checks
    would read a stale position); one that is waiting when the push is applied goes through."""
    api = api_with_fill_lag_limit
    read, trade = api.as_("read"), api.as_("trade")
    signal = {"strategy_id": "bot-7", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    limit_buy = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49900"}

    async def orders() -> list[int]:
        return [o["id"] for o in (await api.client.get("/api/v1/trading/orders", headers=read)).json()["items"]]

    async with _every_slot_taken(api.app.state.trading.tracker) as free_slots:
        first = await api.client.post("/api/v1/trading/signals", json=signal, headers=trade)
        assert first.status_code == 201, first.text  # nothing behind yet: its fill's push is what waits

        async def status() -> dict[str, Any]:
            return (await api.client.get("/api/v1/trading/tracker", headers=read)).json()

        await _until(lambda: _when(status, lambda t: (t["oldest_pending_push_s"] or 0) > 0.35))
        before = await orders()
        refused = [
            await api.client.post("/api/v1/trading/orders", json=limit_buy, headers=trade),
            await api.client.post("/api/v1/trading/signals", json=signal, headers=trade),
        ]
        for answer in refused:
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
            error = answer.json()["error"]
            assert error["code"] == "fills_behind" and error["details"]["behind_s"] > 0.3
        assert await orders() == before == [first.json()["id"]]  # nothing written for the refused ones
        assert len(api.app.state.exchange.simulator.exchange.state()["orders"]) == 1  # nothing sent

        # Held, not refused, while the fills catch up within the wait: it goes through once the push is applied.
        # (The wait made long enough for this machine to apply that push, however slow it is at the moment.)
        api.app.state.trading.fill_gate.wait_s = 30.0
        held = asyncio.create_task(api.client.post("/api/v1/trading/orders", json=limit_buy, headers=trade))
        await asyncio.sleep(0.1)
        assert not held.done()
        free_slots()
        taken = await held
        assert taken.status_code == 201, taken.text
        filled = await api.client.get(f"/api/v1/trading/orders/{first.json()['id']}", headers=read)
        assert filled.json()["status"] == "filled"  # what it waited for


def _metrics(scraped: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(scraped) for s in f.samples}


async def test_a_standby_refuses_new_orders_while_the_leaders_fills_are_behind(tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL: the leader's backlog of pushes is reported in `tracker_lag`, and a standby
    (which applies no pushes) refuses new orders with 503 `fills_behind` too, until the leader catches up."""
    async with fresh_database("postgresql", tmp_path) as url:
        keys = await _prepared(url)
        async with serve(url, keys, max_fill_lag_s=0.3) as leader:
            # One exchange for both: the standby talks to the leader's simulator.
            simulator_url = leader.app.state.exchange.simulator.rest_url
            async with serve(url, keys, max_fill_lag_s=0.3, okx_rest_url=simulator_url) as standby:
                roles = (leader.app.state.trading.leadership.role, standby.app.state.trading.leadership.role)
                assert roles == ("leader", "standby")
                trade = leader.as_("trade")
                order = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01"}
                signal = {"strategy_id": "bot-7", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}

                async def standby_answers(status_code: int) -> httpx.Response | None:
                    answer = await standby.client.post(
                        "/api/v1/trading/orders", json={**order, "price": "49900"}, headers=trade
                    )
                    return answer if answer.status_code == status_code else None

                async with _every_slot_taken(leader.app.state.trading.tracker) as free_slots:
                    placed = await leader.client.post("/api/v1/trading/signals", json=signal, headers=trade)
                    assert placed.status_code == 201, placed.text  # its fill's push waits on the leader

                    refused = await _until(lambda: standby_answers(503))
                    error = refused.json()["error"]
                    assert error["code"] == "fills_behind" and error["details"]["behind_s"] > 0.3
                    assert refused.headers["Retry-After"] == "1"

                    free_slots()
                    assert (await _until(lambda: standby_answers(201))).json()["status"] == "live"
