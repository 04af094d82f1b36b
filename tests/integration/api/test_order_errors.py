"""Why an order failed, through the API: an exchange rejection (OKX sCode/sMsg), a risk denial (risk code and
reason) and an order reconciled as never placed each show `error_code` and `error_message`, and can be filtered."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.integration.api.conftest import Api

BASE = "/api/v1/trading"
LIMIT = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.1", "price": "49000"}
SIGNAL = {"instrument_id": "BTC-USDT", "side": "buy", "size": "0.01", "strategy_id": "s"}


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


async def test_every_order_request_closes_its_session_whatever_the_answer(api: Api) -> None:
    """The order routes' session is closed by the request's middleware (`close_after_request`), not by FastAPI: after
    a placed order, a risk refusal, a bad body, a missing scope and an unknown key alike, and never left in a
    transaction (a connection held back from the pool, or SQLite's write lock)."""
    opened: list = []
    closed: list = []
    factory = api.app.state.session_factory

    def recording_factory():  # type: ignore[no-untyped-def]
        session = factory()
        close = session.close

        async def recorded_close() -> None:
            closed.append(session)
            await close()

        session.close = recorded_close
        opened.append(session)
        return session

    api.app.state.session_factory = recording_factory
    answers = [
        await api.client.post(f"{BASE}/orders", json=LIMIT, headers=api.as_("trade")),
        await api.client.post(f"{BASE}/orders", json={**LIMIT, "size": "1000"}, headers=api.as_("trade")),
        await api.client.post(f"{BASE}/orders", json={**LIMIT, "side": "sideways"}, headers=api.as_("trade")),
        await api.client.post(f"{BASE}/orders", json=LIMIT, headers=api.as_("read")),
        await api.client.post(f"{BASE}/orders", json=LIMIT, headers={"Authorization": "Bearer not-a-key"}),
        await api.client.post(f"{BASE}/signals", json=SIGNAL, headers=api.as_("trade")),
    ]
    api.app.state.session_factory = factory

    assert [a.status_code for a in answers] == [201, 422, 422, 403, 401, 201], [a.text for a in answers]
    assert len(opened) >= 5  # a bad body may be refused before the dependency runs
    assert [id(s) for s in closed] == [id(s) for s in opened]
    assert not any(session.in_transaction() for session in opened)
