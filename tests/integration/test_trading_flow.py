"""The spec's `pytest tests/integration/test_trading_flow.py`: the whole flow through the REST API of the running
app (lifespan, in-process simulator, SQLite and PostgreSQL): a signal becomes an order, its fill, a position, a
trade, events and performance; a limit order is amended and cancelled."""

from __future__ import annotations

from decimal import Decimal

from tests.integration.api.conftest import Api, api  # noqa: F401  (fixture)

BASE = "/api/v1/trading"


async def test_signal_to_fill_to_position_trades_events_and_performance(api: Api) -> None:  # noqa: F811
    trade, read = api.as_("trade"), api.as_("read")
    signal = {"strategy_id": "flow", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}

    placed = await api.client.post(f"{BASE}/signals", json=signal, headers=trade)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    await api.app.state.trading.tracker.reconcile(order["id"])

    order = (await api.client.get(f"{BASE}/orders/{order['id']}", headers=read)).json()
    [fill] = (await api.client.get(f"{BASE}/trades", params={"order_id": order["id"]}, headers=read)).json()["items"]
    position = (await api.client.get(f"{BASE}/positions/BTC-USDT", headers=read)).json()
    events = (await api.client.get(f"{BASE}/events", params={"order_id": order["id"]}, headers=read)).json()["items"]
    performance = (await api.client.get(f"{BASE}/performance", headers=read)).json()

    assert order["status"] == "filled" and order["filled_size"] == "0.01"
    assert (fill["size"], fill["price"]) == ("0.01", order["average_fill_price"])
    assert Decimal(position["size"]) == Decimal("0.00999")  # less the 0.00001 BTC fee
    assert {"order_created", "order_filled"} <= {e["event_type"] for e in events}
    assert performance["number_of_trades"] == 1 and Decimal(performance["fees"]["BTC"]) == Decimal("0.00001")


async def test_limit_order_amended_then_cancelled(api: Api) -> None:  # noqa: F811
    trade = api.as_("trade")
    body = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49000"}

    order = (await api.client.post(f"{BASE}/orders", json=body, headers=trade)).json()
    amended = await api.client.patch(f"{BASE}/orders/{order['id']}", json={"price": "49100"}, headers=trade)
    cancelled = await api.client.delete(f"{BASE}/orders/{order['id']}", headers=trade)
    again = await api.client.delete(f"{BASE}/orders/{order['id']}", headers=trade)

    assert order["status"] == "live"
    assert amended.status_code == 200 and amended.json()["price"] == "49100"
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_finished"
