"""/api/v1/trading: auth on every route, the order flow, idempotency, errors in one shape, lists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app.api import deps
from app.models.trading import Order, Position
from app.services.trading.executor import TradeExecutor
from tests.integration.api.conftest import Api
from tests.integration.trading.conftest import eventually

LIMIT_BUY = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49900"}


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every operation the app serves under /api/v1, from its own route table as OpenAPI publishes it."""
    found = []
    for path, operations in api.app.openapi()["paths"].items():
        if path.startswith("/api/v1/"):
            concrete = (
                path.replace("{order_id}", "1").replace("{execution_id}", "1").replace("{instrument}", "BTC-USDT")
            )
            found += [(method.upper(), concrete) for method in sorted(operations)]
    return found


async def test_every_route_needs_a_key_and_trading_needs_the_trade_scope(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 12
    for method, path in routes:
        anonymous = await api.client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.json()["error"]["code"] == "unauthorized"
        bad_key = await api.client.request(method, path, json={}, headers={"Authorization": "Bearer tes_nope"})
        assert bad_key.status_code == 401, (method, path)
        read_only = await api.client.request(method, path, json={}, headers=api.as_("read"))
        if method != "GET" or "kill-switch" in path:
            assert read_only.status_code == 403, (method, path, read_only.text)
            assert read_only.json()["error"]["code"] == "forbidden"


async def test_open_routes_need_no_key(api: Api) -> None:
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert (await api.client.get(path)).status_code == 200, path


async def test_order_flow_idempotency_and_cancel(api: Api) -> None:
    body = {**LIMIT_BUY, "client_order_id": "bot-1"}
    first = await api.client.post("/api/v1/trading/orders", json=body, headers=api.as_("trade"))
    again = await api.client.post("/api/v1/trading/orders", json=body, headers=api.as_("trade"))
    other = await api.client.post("/api/v1/trading/orders", json={**body, "price": "49800"}, headers=api.as_("trade"))
    header = await api.client.post(
        "/api/v1/trading/orders", json=LIMIT_BUY, headers={**api.as_("trade"), "Idempotency-Key": "bot-1"}
    )

    assert first.status_code == 201, first.text
    order = first.json()
    assert (order["status"], order["size"], order["price"]) == ("live", "0.01", "49900")
    assert order["exchange_order_id"] and order["client_order_id"]
    assert (again.status_code, again.json()["id"]) == (200, order["id"])  # never a second order
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert (header.status_code, header.json()["id"]) == (200, order["id"])
    exchange_orders = api.app.state.exchange.simulator.exchange.state()["orders"]
    assert len(exchange_orders) == 1

    read = await api.client.get(f"/api/v1/trading/orders/{order['id']}", headers=api.as_("read"))
    active = await api.client.get("/api/v1/trading/orders/active", headers=api.as_("read"))
    canceled = await api.client.delete(f"/api/v1/trading/orders/{order['id']}", headers=api.as_("trade"))
    twice = await api.client.delete(f"/api/v1/trading/orders/{order['id']}", headers=api.as_("trade"))
    missing = await api.client.get("/api/v1/trading/orders/999999", headers=api.as_("read"))

    assert read.json()["id"] == order["id"]
    assert [o["id"] for o in active.json()] == [order["id"]]
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "order_finished"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_a_replay_of_an_order_never_acknowledged_answers_what_the_exchange_holds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its client sends it again because it never heard back. Placed, but its acknowledgement never stored (the
    service died between): the replay shows it live with its exchange id. Written ahead and never sent: pending
    while the first request could still reach the exchange, then failed once its expTime has passed (never placed,
    so a new order is safe); sent again by nobody."""
    trade = api.as_("trade")
    placed = await api.client.post(
        "/api/v1/trading/orders", json={**LIMIT_BUY, "client_order_id": "p-1"}, headers=trade
    )
    assert placed.status_code == 201, placed.text
    await api.as_if_never_acknowledged(placed.json()["id"])

    async def dies_before_sending(*_: Any) -> Any:
        raise ConnectionResetError("the service died here")

    monkeypatch.setattr(TradeExecutor, "_send", dies_before_sending)
    never_sent = {**LIMIT_BUY, "price": "49800", "client_order_id": "n-1"}
    with pytest.raises(ConnectionResetError):
        await api.client.post("/api/v1/trading/orders", json=never_sent, headers=trade)
    monkeypatch.undo()

    placed_again = await api.client.post(
        "/api/v1/trading/orders", json={**LIMIT_BUY, "client_order_id": "p-1"}, headers=trade
    )
    within_exp_time = await api.client.post("/api/v1/trading/orders", json=never_sent, headers=trade)
    await api.as_if_its_exp_time_passed(within_exp_time.json()["id"])
    after_exp_time = await api.client.post("/api/v1/trading/orders", json=never_sent, headers=trade)

    assert (placed_again.status_code, placed_again.json()["status"]) == (200, "live")
    assert placed_again.json()["exchange_order_id"] == placed.json()["exchange_order_id"]
    assert (within_exp_time.status_code, within_exp_time.json()["status"]) == (200, "pending_submit")
    assert (after_exp_time.status_code, after_exp_time.json()["status"]) == (200, "failed")
    assert after_exp_time.json()["error_code"] == "not_found_after_exp_time"
    exchange_orders = api.app.state.exchange.simulator.exchange.state()["orders"]
    assert [o["clOrdId"] for o in exchange_orders] == [placed.json()["client_order_id"]]  # nothing sent again


async def test_a_replayed_signal_whose_order_was_never_acknowledged_answers_what_the_exchange_holds(api: Api) -> None:
    signal = {
        "strategy_id": "bot-8",
        "instrument_id": "BTC-USDT",
        "side": "buy",
        "size": "0.01",
        "client_signal_id": "s",
    }
    first = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))
    assert first.status_code == 201, first.text

    async def filled() -> bool:
        read = await api.client.get(f"/api/v1/trading/orders/{first.json()['id']}", headers=api.as_("read"))
        return bool(read.json()["status"] == "filled")

    await eventually(filled)
    await api.as_if_never_acknowledged(first.json()["id"])

    again = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))

    assert (again.status_code, again.json()["id"], again.json()["status"]) == (200, first.json()["id"], "filled")
    assert again.json()["exchange_order_id"] == first.json()["exchange_order_id"]
    trades = await api.client.get("/api/v1/trading/trades", headers=api.as_("read"))
    assert len(trades.json()["items"]) == 1  # its fill stored once


async def test_only_a_keyed_request_keeps_the_fingerprint_a_replay_is_compared_with(api: Api) -> None:
    """A request without an idempotency key can never be replayed: its order keeps no fingerprint (none is
    computed on the order path); a keyed one keeps it, and a replay with another body is still refused."""
    trade = api.as_("trade")
    signal = {"strategy_id": "bot-7", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    plain_order = await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=trade)
    keyed_order = await api.client.post(
        "/api/v1/trading/orders", json={**LIMIT_BUY, "client_order_id": "k-1"}, headers=trade
    )
    plain_signal = await api.client.post("/api/v1/trading/signals", json=signal, headers=trade)
    keyed_signal = await api.client.post(
        "/api/v1/trading/signals", json={**signal, "client_signal_id": "s-1"}, headers=trade
    )
    changed = await api.client.post(
        "/api/v1/trading/signals", json={**signal, "size": "0.02", "client_signal_id": "s-1"}, headers=trade
    )

    async with api.app.state.session_factory() as session:
        stored = {o.id: o.request_fingerprint for o in (await session.execute(select(Order))).scalars()}
    assert [r.status_code for r in (plain_order, keyed_order, plain_signal, keyed_signal)] == [201] * 4
    assert stored[plain_order.json()["id"]] is None and stored[plain_signal.json()["id"]] is None
    assert len(stored[keyed_order.json()["id"]]) == len(stored[keyed_signal.json()["id"]]) == 64
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_conflict"
    assert len(stored) == 4


async def test_amend(api: Api) -> None:
    order = (await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=api.as_("trade"))).json()

    amended = await api.client.patch(
        f"/api/v1/trading/orders/{order['id']}", json={"price": "49800", "size": "0.02"}, headers=api.as_("trade")
    )

    assert amended.status_code == 200, amended.text
    assert (amended.json()["price"], amended.json()["size"]) == ("49800", "0.02")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 0.01}, "size"),  # a JSON number: money must be a string
        ({"size": "abc"}, "size"),
        ({"side": "long"}, "side"),
        ({"price": None}, ""),  # a limit order without a price
        ({"unexpected": 1}, "unexpected"),
        ({"trade_mode": "cross"}, "trade_mode"),  # spot on margin: not supported
        ({"instrument_id": "BTC-USDT-SWAP", "size": "1", "trade_mode": "cash"}, "trade_mode"),  # OKX refuses it
    ],
)
async def test_bad_input_is_422_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    response = await api.client.post("/api/v1/trading/orders", json={**LIMIT_BUY, **change}, headers=api.as_("trade"))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert api.app.state.exchange.simulator.exchange.state()["orders"] == []  # nothing sent, nothing half-written
    assert (await api.client.get("/api/v1/trading/orders", headers=api.as_("read"))).json()["items"] == []


async def test_risk_refusal_is_422_with_its_code_and_an_event(api: Api) -> None:
    far = {**LIMIT_BUY, "price": "30000"}

    refused = await api.client.post("/api/v1/trading/orders", json=far, headers=api.as_("trade"))
    events = await api.client.get(
        "/api/v1/trading/events", params={"event_type": "risk_check_failed"}, headers=api.as_("read")
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "price_deviation_too_large"
    assert [e["data"]["code"] for e in events.json()["items"]] == ["price_deviation_too_large"]


async def test_signal_to_fill_to_position_and_trades(api: Api) -> None:
    signal = {
        "strategy_id": "bot-7",
        "instrument_id": "BTC-USDT",
        "side": "buy",
        "size": "0.01",
        "client_signal_id": "sig-1",
    }

    placed = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))
    again = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))
    stale = await api.client.post(
        "/api/v1/trading/signals",
        headers=api.as_("trade"),
        json={
            **signal,
            "client_signal_id": "sig-2",
            "created_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
    )

    assert placed.status_code == 201, placed.text
    assert (again.status_code, again.json()["id"]) == (200, placed.json()["id"])
    assert stale.status_code == 422 and stale.json()["error"]["code"] == "signal_expired"
    order_id = placed.json()["id"]
    await api.app.state.trading.tracker.reconcile(order_id)  # settle the fill now rather than wait for the push
    trades = (
        await api.client.get("/api/v1/trading/trades", params={"order_id": order_id}, headers=api.as_("read"))
    ).json()["items"]
    position = (await api.client.get("/api/v1/trading/positions/BTC-USDT", headers=api.as_("read"))).json()
    positions = (await api.client.get("/api/v1/trading/positions", headers=api.as_("read"))).json()
    assert sum(Decimal(t["size"]) for t in trades) == Decimal("0.01")
    assert all(isinstance(t["price"], str) and t["liquidity"] == "taker" for t in trades)
    # 0.01 bought, less the 0.1 % taker fee OKX takes in BTC.
    assert position["size"] == "0.00999" and [p["instrument_id"] for p in positions] == ["BTC-USDT"]
    missing = await api.client.get("/api/v1/trading/positions/ETH-USDT", headers=api.as_("read"))
    assert missing.status_code == 404


async def test_lists_are_filtered_and_paginated_newest_first(api: Api) -> None:
    ids = []
    for n in range(5):
        body = {**LIMIT_BUY, "price": str(49900 - n * 10), "strategy_id": "pager" if n % 2 == 0 else "other"}
        ids.append((await api.client.post("/api/v1/trading/orders", json=body, headers=api.as_("trade"))).json()["id"])

    first = (await api.client.get("/api/v1/trading/orders", params={"limit": 2}, headers=api.as_("read"))).json()
    second = (
        await api.client.get(
            "/api/v1/trading/orders", params={"limit": 2, "cursor": first["next_cursor"]}, headers=api.as_("read")
        )
    ).json()
    filtered = (
        await api.client.get("/api/v1/trading/orders", params={"strategy_id": "pager"}, headers=api.as_("read"))
    ).json()
    too_many = await api.client.get("/api/v1/trading/orders", params={"limit": 100000}, headers=api.as_("read"))

    assert [o["id"] for o in first["items"]] == ids[::-1][:2]
    assert [o["id"] for o in second["items"]] == ids[::-1][2:4]
    assert [o["id"] for o in filtered["items"]] == [ids[4], ids[2], ids[0]]
    assert filtered["next_cursor"] is None
    assert too_many.status_code == 422


async def test_kill_switch(api: Api) -> None:
    await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=api.as_("trade"))

    halted = await api.client.post(
        "/api/v1/trading/risk/kill-switch", json={"state": "halted", "reason": "test"}, headers=api.as_("admin")
    )
    refused = await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=api.as_("trade"))
    state = await api.client.get("/api/v1/trading/risk/kill-switch", headers=api.as_("admin"))

    assert halted.json() == {"state": "halted", "canceled_orders": 1}
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "trading_halted"
    assert state.json() == {"state": "halted"}


async def test_caller_rate_limit_is_429_with_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # A low rate, so that the bucket cannot drain between the burst's requests on a slow, loaded machine (at 50/s
    # it leaks a slot every 20 ms; the 80 requests once took longer than that each and none was refused).
    monkeypatch.setattr(deps, "CALLER_RATE_PER_S", 5)
    burst = [api.client.get("/api/v1/trading/orders/active", headers=api.as_("read")) for _ in range(80)]
    statuses = await asyncio.gather(*burst)

    limited = [r for r in statuses if r.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["error"]["code"] == "rate_limited"


async def test_a_key_first_seen_by_a_rolled_back_request_keeps_working(api: Api) -> None:
    """The verified-key cache must not hand later requests an object the first request's rollback expired (a dry-run
    sync rolls its session back): that was a 500 for every request with that key until the cache entry expired."""
    dry_run = await api.client.post(
        "/api/v1/trading/positions/sync", params={"dry_run": "true"}, headers=api.as_("trade")
    )
    assert dry_run.status_code == 200, dry_run.text

    for _ in range(2):
        again = await api.client.post(
            "/api/v1/trading/positions/sync", params={"dry_run": "false"}, headers=api.as_("trade")
        )
        assert again.status_code == 200, again.text
    assert (await api.client.get("/api/v1/trading/positions", headers=api.as_("trade"))).status_code == 200


async def test_exchange_failures_are_503_with_the_okx_code_and_leave_the_order_settled(api: Api) -> None:
    simulator = api.app.state.exchange.simulator
    simulator.faults.update({"error_rate": 1})
    try:
        listed = await api.client.post("/api/v1/trading/positions/sync", headers=api.as_("trade"))
        placed = await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=api.as_("trade"))
    finally:
        simulator.faults.update({"error_rate": 0})

    assert listed.status_code in (502, 503)
    assert listed.json()["error"]["code"] == "exchange_error"
    assert "okx_code" in listed.json()["error"]["details"]
    # A place whose outcome is unknown is not an error for the caller: the order is recorded as unknown and
    # reconciled (here: proven absent once its expTime passes) — never sent twice, never half-written.
    assert placed.status_code == 201
    assert placed.json()["status"] == "unknown"
    assert simulator.exchange.state()["orders"] == []


async def test_performance_and_statistics(api: Api) -> None:
    signal = {"strategy_id": "perf", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    order = (await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))).json()
    await api.app.state.trading.tracker.reconcile(order["id"])
    await api.client.post("/api/v1/trading/orders", json={**LIMIT_BUY, "price": "30000"}, headers=api.as_("trade"))

    performance = await api.client.get(
        "/api/v1/trading/performance", headers=api.as_("read"), params={"initial_capital": "100000"}
    )
    statistics = await api.client.get("/api/v1/trading/statistics", headers=api.as_("read"))
    bad = await api.client.get(
        "/api/v1/trading/performance",
        headers=api.as_("read"),
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )

    assert performance.status_code == 200, performance.text
    body = performance.json()
    assert body["number_of_trades"] >= 1 and Decimal(body["total_pnl"]) < 0  # only the opening fee so far
    assert len(body["daily"]) >= 30 and body["initial_capital"] == "100000"
    stats = statistics.json()
    assert stats["overall"]["orders"] == 1 and stats["overall"]["risk_checks_failed"] == 1
    assert stats["overall"]["filled"] == 1 and stats["overall"]["maker_ratio"] == 0.0  # a market order took
    assert set(stats["by_strategy"]) == {"perf", "api"} and set(stats["by_instrument"]) == {"BTC-USDT"}
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/trading/orders", {"params": {"created_after": "2024-01-01T00:00:00"}}),  # no timezone
        ("GET", "/api/v1/trading/performance", {"params": {"start": "2024-01-01T00:00:00"}}),
        ("POST", "/api/v1/trading/orders", {"json": {**LIMIT_BUY, "size": "1e30"}}),
        ("POST", "/api/v1/trading/orders", {"json": {**LIMIT_BUY, "price": "0.0000000000000000001"}}),
        (
            "POST",
            "/api/v1/trading/signals",
            {"json": {"strategy_id": "s", "instrument_id": "BTC-USDT", "side": "buy", "size": "1e30"}},
        ),
        ("PATCH", f"/api/v1/trading/orders/{2**70}", {"json": {"price": "1"}}),
        ("POST", "/api/v1/trading/orders", {"json": {**LIMIT_BUY, "client_order_id": "x" * 101}}),
        (
            "POST",
            "/api/v1/trading/signals",
            {
                "json": {
                    "strategy_id": "s",
                    "instrument_id": "BTC-USDT",
                    "side": "buy",
                    "size": "0.01",
                    "execution": {"algorithm": "twap"},
                }
            },
        ),
    ],
    ids=["naive-filter", "naive-range", "huge-size", "tiny-price", "huge-signal", "huge-id", "long-key", "twap"],
)
async def test_odd_input_is_422_never_500(api: Api, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = await api.client.request(method, path, headers=api.as_("trade"), **kwargs)

    assert response.status_code == 422, response.text
    assert api.app.state.exchange.simulator.exchange.state()["orders"] == []


async def test_concurrent_identical_signals_place_one_order(api: Api) -> None:
    signal = {
        "strategy_id": "race",
        "instrument_id": "BTC-USDT",
        "side": "buy",
        "size": "0.01",
        "client_signal_id": "same-1",
    }

    answers = await asyncio.gather(
        *[api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade")) for _ in range(3)]
    )

    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(api.app.state.exchange.simulator.exchange.state()["orders"]) == 1


async def test_executions_start_read_and_cancel(api: Api) -> None:
    twap = {
        "algorithm": "twap",
        "config": {"duration": 0.4, "num_slices": 2},
        "instrument_id": "BTC-USDT",
        "side": "buy",
        "size": "0.02",
        "strategy_id": "exec-api",
    }
    started = await api.client.post("/api/v1/trading/executions", json=twap, headers=api.as_("trade"))
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]
    for _ in range(100):
        done = (await api.client.get(f"/api/v1/trading/executions/{execution_id}", headers=api.as_("read"))).json()
        if done["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert (done["status"], done["filled_size"], done["progress"], done["slices_done"]) == ("completed", "0.02", 1.0, 2)
    assert [c["size"] for c in done["children"]] == ["0.01", "0.01"]
    assert done["slippage_bps"] is not None

    iceberg = {
        "algorithm": "iceberg",
        "config": {"visible_pct": "0.5", "max_refresh_time": 60},
        "instrument_id": "BTC-USDT",
        "side": "buy",
        "size": "0.02",
        "price": "49500",
    }
    resting = (await api.client.post("/api/v1/trading/executions", json=iceberg, headers=api.as_("trade"))).json()
    await asyncio.sleep(0.2)
    canceled = await api.client.delete(f"/api/v1/trading/executions/{resting['id']}", headers=api.as_("trade"))
    again = await api.client.delete(f"/api/v1/trading/executions/{resting['id']}", headers=api.as_("trade"))
    listed = await api.client.get("/api/v1/trading/executions", headers=api.as_("read"))

    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert all(c["status"] == "canceled" for c in canceled.json()["children"])
    assert again.status_code == 409
    assert [e["id"] for e in listed.json()["items"]] == [resting["id"], execution_id]


async def test_execution_config_errors_are_422(api: Api) -> None:
    bad = {"algorithm": "twap", "config": {"num_slices": 0}, "instrument_id": "BTC-USDT", "side": "buy", "size": "0.02"}

    response = await api.client.post("/api/v1/trading/executions", json=bad, headers=api.as_("trade"))

    assert response.status_code == 422 and "num_slices" in response.json()["error"]["message"]


async def test_metrics_in_prometheus_format(api: Api) -> None:
    signal = {"strategy_id": "prom", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    order = (await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))).json()
    await api.app.state.trading.tracker.reconcile(order["id"])
    resting = await api.client.post("/api/v1/trading/orders", json=LIMIT_BUY, headers=api.as_("trade"))
    assert resting.status_code == 201, resting.text

    anonymous = await api.client.get("/metrics")
    scraped = await api.client.get("/metrics", headers=api.as_("read"))

    assert anonymous.status_code == 401
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(scraped.text)}
    for name in (
        "trading_orders",
        "trading_fills",
        "trading_fees",
        "trading_order_rejections",
        "trading_risk_check_failures",
        "trading_order_submit_seconds",
        "trading_slippage_bps",
        "okx_request_seconds",
        "okx_request_errors",
        "okx_websocket_reconnects",
        "trading_open_orders",
        "trading_position_size",
        "trading_unrealized_pnl",
        "trading_realized_pnl",
        "service_event_loop_lag_seconds",
        "api_request_seconds",
    ):
        assert name in families, name
    answered = {
        s.labels["endpoint"]: s.value
        for s in families["api_request_seconds"].samples
        if s.name == "api_request_seconds_count"
    }
    assert answered["create_order"] >= 1 and answered["post_signal"] >= 1  # counters are per process
    gauges = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert gauges[("trading_open_orders", (("instrument", "BTC-USDT"),))] == 1  # the resting limit order
    assert gauges[("trading_position_size", (("instrument", "BTC-USDT"), ("side", "net")))] == 0.00999  # net of fee


async def test_positions_are_marked_to_the_latest_market_price_not_the_last_fill(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN.md §5: unrealized = s·m·(mark − a). It was the last fill's, so a long bought at 50,000 still showed 0
    with the market at 45,000, in the API and in the gauge alike. The mark is not written to the database."""
    signal = {"strategy_id": "mark", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    placed = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("trade"))
    await api.app.state.trading.tracker.reconcile(placed.json()["id"])
    risk = api.app.state.trading.risk

    class Pinned(dict[str, Decimal]):  # the market at 45,000, whatever the price refresh reads meanwhile
        def __setitem__(self, instrument: str, price: Decimal) -> None:
            if instrument != "BTC-USDT":
                super().__setitem__(instrument, price)

    monkeypatch.setattr(risk, "prices", Pinned({**risk.prices, "BTC-USDT": Decimal("45000")}))
    read = api.as_("read")
    one = (await api.client.get("/api/v1/trading/positions/BTC-USDT", headers=read)).json()
    [listed] = (await api.client.get("/api/v1/trading/positions", headers=read)).json()
    metrics = (await api.client.get("/metrics", headers=read)).text

    expected = Decimal(one["size"]) * (Decimal("45000") - Decimal(one["average_entry_price"]))
    assert expected < 0 and one["current_price"] == listed["current_price"] == "45000"
    assert Decimal(one["unrealized_pnl"]) == Decimal(listed["unrealized_pnl"]) == expected
    gauge = next(line for line in metrics.splitlines() if line.startswith("trading_unrealized_pnl{"))
    assert float(gauge.rsplit(" ", 1)[1]) == pytest.approx(float(expected))
    async with api.app.state.session_factory() as session:  # as stored: at its fill
        stored = (await session.execute(select(Position))).scalar_one()
        assert stored.current_price == Decimal(one["average_entry_price"]) and stored.unrealized_pnl == 0
