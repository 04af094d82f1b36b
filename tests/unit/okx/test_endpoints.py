"""Every endpoint against OKX's documented responses: the request sent and the typed result read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx

from app.services.okx.client import OKXClient
from app.services.okx.errors import OKXInstrumentNotFound, OKXParameterError
from app.services.okx.trade import AmendRequest, CancelRequest, OrderRequest
from tests.unit.okx.conftest import FakeClock
from tests.unit.okx.payloads import (
    ACCOUNT_BALANCE,
    ACCOUNT_CONFIG,
    ACCOUNT_POSITIONS,
    AMEND_ORDER_OK,
    BATCH_ORDERS_OK,
    CANCEL_ALL_AFTER,
    CANCEL_BATCH_ORDERS_OK,
    CANCEL_ORDER_OK,
    FILLS,
    FILLS_HISTORY,
    GET_ORDER,
    INSTRUMENTS_SPOT,
    INSTRUMENTS_SWAP,
    MARKET_BOOKS,
    MARKET_TICKER,
    MARKET_TICKERS,
    ORDERS_HISTORY,
    ORDERS_PENDING,
    PLACE_ORDER_OK,
)


def ok(payload: dict) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.Response(200, json=payload)


def sent_json(route: respx.Route) -> object:
    return json.loads(route.calls.last.request.content)


def query(route: respx.Route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


LIMIT_BUY = OrderRequest(
    inst_id="BTC-USDT",
    td_mode="cash",
    side="buy",
    ord_type="limit",
    sz=Decimal("0.01"),
    px=Decimal("50000"),
    cl_ord_id="b15",
)


async def test_server_time(okx: OKXClient) -> None:
    assert await okx.public.get_server_time() == datetime(2020, 8, 10, 2, 26, 23, 85000, tzinfo=UTC)


async def test_spot_and_swap_instruments(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/public/instruments").mock(
        side_effect=lambda request: ok(
            INSTRUMENTS_SWAP if request.url.params["instType"] == "SWAP" else INSTRUMENTS_SPOT
        )
    )

    [spot] = await okx.public.get_instruments("SPOT")
    [swap] = await okx.public.get_instruments("SWAP")

    assert route.call_count == 2
    assert (spot.inst_id, spot.base_ccy, spot.quote_ccy, spot.state) == ("BTC-USDT", "BTC", "USDT", "live")
    assert spot.tick_sz == Decimal(INSTRUMENTS_SPOT["data"][0]["tickSz"])
    assert spot.lot_sz == Decimal(INSTRUMENTS_SPOT["data"][0]["lotSz"])
    assert spot.min_sz == Decimal(INSTRUMENTS_SPOT["data"][0]["minSz"])
    assert spot.contract_multiplier == 1
    assert spot.ct_val is None  # OKX sends "" for spot
    assert (swap.inst_id, swap.uly, swap.settle_ccy, swap.base_ccy) == ("BTC-USDT-SWAP", "BTC-USDT", "USDT", None)
    assert (swap.ct_val, swap.lot_sz, swap.min_sz, swap.tick_sz) == (
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.1"),
    )
    assert swap.contract_multiplier == Decimal("0.01")
    assert swap.is_live


async def test_instruments_are_cached_and_refreshed(
    okx: OKXClient, okx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = okx_mock.get("/api/v5/public/instruments").mock(return_value=ok(INSTRUMENTS_SPOT))

    first = await okx.public.instrument("BTC-USDT")
    again = await okx.public.instrument("BTC-USDT")
    assert route.call_count == 1
    clock.now += okx.public.cache_ttl_s + 1
    await okx.public.instrument("BTC-USDT")

    assert first == again
    assert route.call_count == 2
    assert query(route) == {"instType": "SPOT"}


async def test_unknown_instrument_is_refetched_once_then_refused(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/public/instruments").mock(return_value=ok(INSTRUMENTS_SPOT))
    await okx.public.instrument("BTC-USDT")

    with pytest.raises(OKXInstrumentNotFound):
        await okx.public.instrument("NOPE-USDT")

    assert route.call_count == 2


async def test_ticker_tickers_and_book(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    ticker_route = okx_mock.get("/api/v5/market/ticker").mock(return_value=ok(MARKET_TICKER))
    okx_mock.get("/api/v5/market/tickers").mock(return_value=ok(MARKET_TICKERS))
    books_route = okx_mock.get("/api/v5/market/books").mock(return_value=ok(MARKET_BOOKS))

    ticker = await okx.market.get_ticker(MARKET_TICKER["data"][0]["instId"])
    tickers = await okx.market.get_tickers("SWAP")
    book = await okx.market.get_order_book("BTC-USDT", depth=1)

    documented = MARKET_TICKER["data"][0]
    assert ticker.last == Decimal(documented["last"])
    assert ticker.mid == (Decimal(documented["bidPx"]) + Decimal(documented["askPx"])) / 2
    assert query(ticker_route) == {"instId": documented["instId"]}
    assert [t.inst_id for t in tickers] == [row["instId"] for row in MARKET_TICKERS["data"]]
    assert query(books_route) == {"instId": "BTC-USDT", "sz": "1"}
    ask = MARKET_BOOKS["data"][0]["asks"][0]
    assert (book.asks[0].px, book.asks[0].sz, book.asks[0].orders) == (Decimal(ask[0]), Decimal(ask[1]), int(ask[3]))
    assert len(book.bids) == len(MARKET_BOOKS["data"][0]["bids"])


async def test_place_order(okx: OKXClient, okx_mock: respx.MockRouter, clock: FakeClock) -> None:
    route = okx_mock.post("/api/v5/trade/order").mock(return_value=ok(PLACE_ORDER_OK))

    ack = await okx.trade.place_order(LIMIT_BUY)

    assert sent_json(route) == {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "limit",
        "sz": "0.01",
        "px": "50000",
        "clOrdId": "b15",
    }
    assert route.calls.last.request.content == (
        b'{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.01","px":"50000","clOrdId":"b15"}'
    )
    exp_time = int(route.calls.last.request.headers["expTime"])
    assert exp_time == int((clock.now + okx.exp_time_window_s) * 1000)
    assert ack.ok and ack.ord_id == PLACE_ORDER_OK["data"][0]["ordId"]


async def test_place_order_with_a_given_exp_time(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/order").mock(return_value=ok(PLACE_ORDER_OK))

    await okx.trade.place_order(LIMIT_BUY, exp_time_ms=1597026390000)

    assert route.calls.last.request.headers["expTime"] == "1597026390000"


async def test_decimals_are_sent_fixed_point(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/order").mock(return_value=ok(PLACE_ORDER_OK))
    tiny = OrderRequest(
        inst_id="BTC-USDT",
        td_mode="cash",
        side="sell",
        ord_type="market",
        sz=Decimal("1E-8"),
        tgt_ccy="base_ccy",
        reduce_only=False,
    )

    await okx.trade.place_order(tiny)

    assert sent_json(route) == {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "sell",
        "ordType": "market",
        "sz": "0.00000001",
        "tgtCcy": "base_ccy",
        "reduceOnly": "false",
    }


async def test_batch_place_of_two(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/batch-orders").mock(return_value=ok(BATCH_ORDERS_OK))
    orders = [
        OrderRequest(
            inst_id="BTC-USDT",
            td_mode="cash",
            side="buy",
            ord_type="limit",
            sz=Decimal("1"),
            px=Decimal("100"),
            cl_ord_id=f"oktswap{n}",
        )
        for n in (6, 7)
    ]

    results = await okx.trade.place_orders(orders)

    assert [item["clOrdId"] for item in sent_json(route)] == ["oktswap6", "oktswap7"]  # type: ignore[index]
    assert "expTime" in route.calls.last.request.headers
    assert [result.ord_id for result in results] == ["12345689", "12344"]  # type: ignore[union-attr]


async def test_cancel_order_by_either_id(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/cancel-order").mock(return_value=ok(CANCEL_ORDER_OK))

    ack = await okx.trade.cancel_order("BTC-USDT", ord_id="2510789768709120")
    assert sent_json(route) == {"instId": "BTC-USDT", "ordId": "2510789768709120"}
    await okx.trade.cancel_order("BTC-USDT", cl_ord_id="oktswap6")
    assert sent_json(route) == {"instId": "BTC-USDT", "clOrdId": "oktswap6"}

    assert ack.ok and ack.ord_id == CANCEL_ORDER_OK["data"][0]["ordId"]
    assert "expTime" not in route.calls.last.request.headers
    with pytest.raises(OKXParameterError):
        await okx.trade.cancel_order("BTC-USDT")


async def test_batch_cancel(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/cancel-batch-orders").mock(return_value=ok(CANCEL_BATCH_ORDERS_OK))
    cancels = [CancelRequest("BTC-USDT", ord_id=item["ordId"]) for item in CANCEL_BATCH_ORDERS_OK["data"]]

    results = await okx.trade.cancel_orders(cancels)

    assert sent_json(route) == [
        {"instId": "BTC-USDT", "ordId": item["ordId"]} for item in CANCEL_BATCH_ORDERS_OK["data"]
    ]
    assert all(result.ok for result in results)  # type: ignore[union-attr]


async def test_amend_order(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/amend-order").mock(return_value=ok(AMEND_ORDER_OK))

    ack = await okx.trade.amend_order(
        AmendRequest("BTC-USDT", ord_id="2510789768709120", new_sz=Decimal("2"), new_px=Decimal("49000.5"), req_id="r1")
    )

    assert sent_json(route) == {
        "instId": "BTC-USDT",
        "ordId": "2510789768709120",
        "newSz": "2",
        "newPx": "49000.5",
        "reqId": "r1",
    }
    assert "expTime" in route.calls.last.request.headers
    assert ack.ok and ack.req_id == AMEND_ORDER_OK["data"][0].get("reqId")
    with pytest.raises(OKXParameterError):
        await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id="1"))


async def test_get_order_by_ord_id_or_cl_ord_id(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.get("/api/v5/trade/order").mock(return_value=ok(GET_ORDER))

    order = await okx.trade.get_order("BTC-USDT", ord_id="680800019749904384")
    assert query(route) == {"instId": "BTC-USDT", "ordId": "680800019749904384"}
    await okx.trade.get_order("BTC-USDT", cl_ord_id="b15")
    assert query(route) == {"instId": "BTC-USDT", "clOrdId": "b15"}

    assert order.state == "filled"
    assert order.cl_ord_id is None  # "" is absent
    assert order.px is None and order.ord_type == "market"
    assert (order.acc_fill_sz, order.avg_px) == (Decimal("0.00192834"), Decimal("51858"))
    assert order.fee == Decimal("-0.00000192834") and order.fee_ccy == "BTC"
    assert order.reduce_only is False  # OKX sends the string "false"
    assert order.c_time == datetime(2024, 2, 22, 7, 36, 13, 361000, tzinfo=UTC)
    assert order.trade_id == "744876980"


async def test_pending_orders_and_history(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    pending_route = okx_mock.get("/api/v5/trade/orders-pending").mock(return_value=ok(ORDERS_PENDING))
    history_route = okx_mock.get("/api/v5/trade/orders-history").mock(return_value=ok(ORDERS_HISTORY))

    pending = await okx.trade.get_pending_orders(inst_id="BTC-USDT", limit=50)
    history = await okx.trade.get_order_history("SPOT", state="filled", begin_ms=1, end_ms=2)

    assert query(pending_route) == {"instId": "BTC-USDT", "limit": "50"}
    assert query(history_route) == {"instType": "SPOT", "state": "filled", "begin": "1", "end": "2"}
    assert [o.ord_id for o in pending] == [row["ordId"] for row in ORDERS_PENDING["data"]]
    assert [o.state for o in history] == [row["state"] for row in ORDERS_HISTORY["data"]]


async def test_fills_and_fills_history(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    fills_route = okx_mock.get("/api/v5/trade/fills").mock(return_value=ok(FILLS))
    history_route = okx_mock.get("/api/v5/trade/fills-history").mock(return_value=ok(FILLS_HISTORY))

    [fill] = await okx.trade.get_fills(inst_id="BTC-USDT", ord_id="680800019749904384")
    history = await okx.trade.get_fills(inst_type="SPOT", history=True)

    assert query(fills_route) == {"instId": "BTC-USDT", "ordId": "680800019749904384"}
    assert query(history_route) == {"instType": "SPOT"}
    assert (fill.trade_id, fill.bill_id, fill.exec_type) == ("744876980", "680800019754098688", "T")
    assert (fill.fill_px, fill.fill_sz, fill.fee) == (
        Decimal("51858"),
        Decimal("0.00192834"),
        Decimal("-0.00000192834"),
    )
    assert len(history) == len(FILLS_HISTORY["data"])
    with pytest.raises(OKXParameterError):
        await okx.trade.get_fills(history=True)


async def test_fills_are_paginated_by_bill_id(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    template = FILLS["data"][0]
    pages = {
        None: [{**template, "tradeId": f"t{n}", "billId": str(1000 - n)} for n in range(3)],
        "998": [{**template, "tradeId": f"t{n}", "billId": str(1000 - n)} for n in range(3, 6)],
        "995": [{**template, "tradeId": "t6", "billId": "994"}],
    }
    route = okx_mock.get("/api/v5/trade/fills").mock(
        side_effect=lambda request: ok({"code": "0", "msg": "", "data": pages[request.url.params.get("after")]})
    )

    fills = [fill async for fill in okx.trade.iter_fills(inst_id="BTC-USDT", page_size=3)]

    assert [fill.trade_id for fill in fills] == [f"t{n}" for n in range(7)]
    assert [call.request.url.params.get("after") for call in route.calls] == [None, "998", "995"]
    assert all(call.request.url.params["limit"] == "3" for call in route.calls)


async def test_order_history_and_pending_pagination(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    template = ORDERS_HISTORY["data"][0]
    okx_mock.get("/api/v5/trade/orders-history").mock(
        side_effect=lambda request: ok(
            {
                "code": "0",
                "msg": "",
                "data": []
                if request.url.params.get("after")
                else [{**template, "ordId": "9"}, {**template, "ordId": "8"}],
            }
        )
    )
    okx_mock.get("/api/v5/trade/orders-pending").mock(return_value=ok(ORDERS_PENDING))

    history = [o.ord_id async for o in okx.trade.iter_order_history("SPOT", page_size=2)]
    pending = [o.ord_id async for o in okx.trade.iter_pending_orders()]

    assert history == ["9", "8"]
    assert pending == [row["ordId"] for row in ORDERS_PENDING["data"]]


async def test_balance_positions_config(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    okx_mock.get("/api/v5/account/balance").mock(return_value=ok(ACCOUNT_BALANCE))
    positions_route = okx_mock.get("/api/v5/account/positions").mock(return_value=ok(ACCOUNT_POSITIONS))
    okx_mock.get("/api/v5/account/config").mock(return_value=ok(ACCOUNT_CONFIG))

    balance = await okx.account.get_balance()
    [position] = await okx.account.get_positions(inst_type="MARGIN")
    config = await okx.account.get_config()

    documented = ACCOUNT_BALANCE["data"][0]
    assert balance.total_eq == Decimal(documented["totalEq"])
    first = documented["details"][0]
    detail = balance.currency(first["ccy"])
    assert detail is not None and detail.eq == Decimal(first["eq"])
    assert detail.available == Decimal(first["availEq"] or first["availBal"])
    assert query(positions_route) == {"instType": "MARGIN"}
    documented_position = ACCOUNT_POSITIONS["data"][0]
    assert (position.inst_id, position.pos, position.avg_px) == (
        documented_position["instId"],
        Decimal(documented_position["pos"]),
        Decimal(documented_position["avgPx"]),
    )
    assert config.uid == ACCOUNT_CONFIG["data"][0]["uid"]
    assert config.pos_mode == ACCOUNT_CONFIG["data"][0]["posMode"]


async def test_cancel_all_after(okx: OKXClient, okx_mock: respx.MockRouter) -> None:
    route = okx_mock.post("/api/v5/trade/cancel-all-after").mock(return_value=ok(CANCEL_ALL_AFTER))

    result = await okx.trade.cancel_all_after(60)

    assert sent_json(route) == {"timeOut": "60"}
    assert result.enabled and result.trigger_time == "1587971460"
    with pytest.raises(OKXParameterError):
        await okx.trade.cancel_all_after(5)
    assert route.call_count == 1


async def test_the_spec_wiring_works_as_written(okx_mock: respx.MockRouter, clock: FakeClock) -> None:
    """`okx_client.trade = OKXTrade(okx_client)` from the spec's usage sample."""
    from app.services.okx.trade import OKXTrade

    route = okx_mock.post("/api/v5/trade/order").mock(return_value=ok(PLACE_ORDER_OK))
    okx_client = OKXClient(
        api_key="...",
        secret_key="...",
        passphrase="...",
        base_url="https://okx.test",
        transport=httpx.MockTransport(okx_mock.async_handler),
        clock=clock,
    )
    okx_client.trade = OKXTrade(okx_client)

    ack = await okx_client.trade.place_order(LIMIT_BUY)
    await okx_client.aclose()

    assert ack.ok and route.call_count == 1
    assert okx_client.is_closed
