"""The spec's flows against the running service (uvicorn, in-process simulator): signal → order → fill → position →
trade; cancel; amend; idempotent retry — all over HTTP, as a strategy bot or a frontend would."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx


def _wait_for(client: httpx.Client, path: str, done: Any, timeout_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(path).json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def _client(service: tuple[str, str]) -> httpx.Client:
    base_url, key = service
    return httpx.Client(base_url=f"{base_url}/api/v1/trading", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_signal_order_fill_position_trade(service: tuple[str, str]) -> None:
    with _client(service) as api:
        placed = api.post(
            "/signals",
            json={
                "strategy_id": "e2e",
                "instrument_id": "BTC-USDT",
                "side": "buy",
                "size": "0.01",
                "client_signal_id": "e2e-1",
            },
        )
        assert placed.status_code == 201, placed.text
        order = _wait_for(api, f"/orders/{placed.json()['id']}", lambda o: o["status"] == "filled")
        trades = api.get("/trades", params={"order_id": order["id"]}).json()["items"]
        position = api.get("/positions/BTC-USDT").json()
        events = [e["event_type"] for e in api.get("/events", params={"order_id": order["id"]}).json()["items"]]
        performance = api.get("/performance", params={"strategy_id": "e2e"}).json()
        statistics = api.get("/statistics").json()

    assert (order["status"], order["filled_size"]) == ("filled", "0.01")  # the tracker applied the push
    assert sum(Decimal(t["size"]) for t in trades) == Decimal("0.01")
    assert Decimal(order["average_fill_price"]) == sum(
        Decimal(t["price"]) * Decimal(t["size"]) for t in trades
    ) / Decimal("0.01")
    assert position["size"] == "0.00999"  # 0.01 bought, less the fee OKX takes in BTC
    assert {"order_created", "order_filled", "position_opened"} <= set(events)
    fees = sum(Decimal(t["realized_pnl"]) for t in trades)  # an opening trade realizes minus its fee
    assert (performance["number_of_trades"], Decimal(performance["total_pnl"])) == (len(trades), fees)
    assert statistics["by_strategy"]["e2e"]["filled"] == 1


def test_amend_cancel_and_idempotent_retry(service: tuple[str, str]) -> None:
    with _client(service) as api:
        body = {
            "instrument_id": "ETH-USDT",
            "side": "buy",
            "order_type": "limit",
            "size": "0.1",
            "price": "2990",
            "client_order_id": "e2e-limit-1",
        }
        first = api.post("/orders", json=body)
        retry = api.post("/orders", json=body)
        order_id = first.json()["id"]
        amended = api.patch(f"/orders/{order_id}", json={"price": "2980"})
        canceled = api.delete(f"/orders/{order_id}")
        final = _wait_for(api, f"/orders/{order_id}", lambda o: o["status"] == "canceled")
        again = api.delete(f"/orders/{order_id}")

    assert first.status_code == 201 and first.json()["status"] == "live"
    assert (retry.status_code, retry.json()["id"]) == (200, order_id)
    assert amended.status_code == 200 and amended.json()["price"] == "2980"
    assert canceled.status_code == 200
    assert final["status"] == "canceled"
    assert again.status_code == 409
