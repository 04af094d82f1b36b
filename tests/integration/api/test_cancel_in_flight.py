"""A cancel asked while the order is still on its way to the exchange finds nothing to cancel there (OKX 51400),
so it is sent again once the exchange has the order: by the request that placed it when the exchange's answer
comes back, and by the tracker for an order whose placing request is gone (a restart, a lost answer). Before,
the order stayed `pending_cancel` here and live on the exchange, where it could fill: the kill switch's
cancel-all left it working."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.models.trading import Order, OrderStatus
from tests.integration.api.conftest import Api

BASE = "/api/v1/trading"
LIMIT = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49000"}


def _on_exchange(api: Api) -> list[dict[str, Any]]:
    return api.app.state.exchange.simulator.exchange.state()["orders"]


async def _settled(api: Api, order_id: int, status: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        answer = await api.client.get(f"{BASE}/orders/{order_id}", headers=api.as_("read"))
        if answer.json()["status"] == status or time.monotonic() > deadline:
            return str(answer.json()["status"])
        await asyncio.sleep(0.05)


async def test_a_cancel_asked_while_the_order_is_on_its_way_is_sent_again_once_the_exchange_has_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    trade = api.as_("trade")
    okx_trade = api.app.state.exchange.client.trade
    place_order = okx_trade.place_order
    arrives = asyncio.Event()

    async def slow_on_the_way(*args: Any, **kwargs: Any) -> Any:
        await arrives.wait()
        return await place_order(*args, **kwargs)

    monkeypatch.setattr(okx_trade, "place_order", slow_on_the_way)
    placing = asyncio.create_task(api.client.post(f"{BASE}/orders", json=LIMIT, headers=trade))
    while not (listed := (await api.client.get(f"{BASE}/orders", headers=trade)).json()["items"]):
        await asyncio.sleep(0.01)
    order_id = listed[0]["id"]

    canceled = await api.client.delete(f"{BASE}/orders/{order_id}", headers=trade)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "pending_cancel" and _on_exchange(api) == []  # nothing there to cancel yet

    arrives.set()  # the place reaches the exchange after the cancel
    placed = await placing
    assert placed.status_code == 201, placed.text

    [on_exchange] = _on_exchange(api)
    assert on_exchange["state"] == "canceled"  # not left working
    assert await _settled(api, order_id, "canceled") == "canceled"


@pytest.mark.parametrize("found_by", ["gap_fill", "poll", "push"])
async def test_an_order_left_pending_cancel_while_the_exchange_has_it_working_is_canceled_by_the_tracker(
    api: Api, found_by: str
) -> None:
    """The service died between the cancel that found nothing and the exchange's answer to the place: the stored
    order is `pending_cancel` without an exchange id, and the exchange has it live. The tracker's start-up gap fill
    (or its poll of orders never acknowledged, or the order's next push) finds it and sends the cancel."""
    trade = api.as_("trade")
    placed = await api.client.post(f"{BASE}/orders", json=LIMIT, headers=trade)
    assert placed.status_code == 201 and placed.json()["status"] == "live", placed.text
    order_id = placed.json()["id"]
    async with api.app.state.session_factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.status, order.exchange_order_id = OrderStatus.PENDING_CANCEL, None
        await session.commit()
    tracker = api.app.state.trading.tracker

    if found_by == "gap_fill":
        await tracker.track_open_orders()
    elif found_by == "poll":
        await tracker.reconcile(order_id)
    else:
        [live] = _on_exchange(api)
        await tracker.apply_push({key: value for key, value in live.items() if key != "fills"})

    [on_exchange] = _on_exchange(api)
    assert on_exchange["state"] == "canceled"
    assert await _settled(api, order_id, "canceled") == "canceled"
