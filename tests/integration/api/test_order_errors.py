"""Why an order failed, through the API: an exchange rejection (OKX sCode/sMsg), a risk denial (risk code and
reason) and an order reconciled as never placed each show `error_code` and `error_message`, and can be filtered."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.integration.api.conftest import Api

BASE = "/api/v1/trading"
LIMIT = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.1", "price": "49000"}


async def _order(api: Api, order_id: int) -> dict:
    return (await api.client.get(f"{BASE}/orders/{order_id}", headers=api.as_("read"))).json()


async def test_an_exchange_rejection_shows_okx_code_and_message(api: Api) -> None:
    async def keep_the_last_balances() -> None:  # the service's view of the account stays as it was
        return None

    api.app.state.trading._refresh_account = keep_the_last_balances
    api.app.state.exchange.simulator.exchange.wallets["USDT"].cash = Decimal("10")  # behind the service's back

    placed = await api.client.post(f"{BASE}/orders", json=LIMIT, headers=api.as_("trade"))

    assert placed.status_code == 201, placed.text
    order = await _order(api, placed.json()["id"])
    assert (order["status"], order["error_code"]) == ("rejected", "51008")
    assert "Insufficient USDT balance" in order["error_message"]


async def test_a_risk_denial_is_stored_with_its_code_and_reason(api: Api) -> None:
    refused = await api.client.post(f"{BASE}/orders", json={**LIMIT, "size": "1000"}, headers=api.as_("trade"))

    assert refused.status_code == 422
    details = refused.json()["error"]["details"]
    order = await _order(api, details["order_id"])
    assert (order["status"], order["error_code"]) == ("rejected", "order_size_too_large")
    assert "exceeds max_order_size" in order["error_message"]
    assert order["submitted_at"] is None  # never sent
    assert api.app.state.exchange.simulator.exchange.state()["orders"] == []
    listed = await api.client.get(
        f"{BASE}/orders", params={"error_code": "order_size_too_large"}, headers=api.as_("read")
    )
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]


async def test_an_order_reconciled_as_never_placed_says_so(api: Api) -> None:
    client = api.app.state.exchange.client
    client.exp_time_window_s = 0.5
    simulator = api.app.state.exchange.simulator
    simulator.faults.update({"error_rate": 1})  # 5xx with nothing done: the outcome is unknown
    try:
        placed = await api.client.post(f"{BASE}/orders", json=LIMIT, headers=api.as_("trade"))
    finally:
        simulator.faults.update({"error_rate": 0})
    assert placed.status_code == 201 and placed.json()["status"] == "unknown", placed.text

    await asyncio.sleep(2.7)  # past its expTime and the clock margin: if OKX does not have it now, it never will
    await api.app.state.trading.tracker.reconcile(placed.json()["id"])

    order = await _order(api, placed.json()["id"])
    assert (order["status"], order["error_code"]) == ("failed", "not_found_after_exp_time")
    assert "never placed" in order["error_message"]
