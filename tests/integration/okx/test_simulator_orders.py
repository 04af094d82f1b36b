"""Every order type, partial fills, cancels, amends and their races: `OKXClient` against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from app.services.okx.client import OKXClient
from app.services.okx.errors import (
    OKXDuplicateClientOrderId,
    OKXError,
    OKXInstrumentNotFound,
    OKXInsufficientBalance,
    OKXInvalidOrder,
    OKXOrderAlreadyFinished,
    OKXOrderNotFound,
    OKXParameterError,
)
from app.services.okx.simulator import OKXSimulator
from app.services.okx.trade import AmendRequest, CancelRequest
from tests.integration.okx.conftest import order

Control = Callable[..., Awaitable[Any]]


async def test_resting_limit_fills_as_maker_when_the_price_crosses(okx: OKXClient, control: Control) -> None:
    ack = await okx.trade.place_order(order(px="49000", sz="0.1", cl_ord_id="rest1"))
    assert (await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)).state == "live"

    await control("POST", "price", {"instId": "BTC-USDT", "px": "48990"})

    filled = await okx.trade.get_order("BTC-USDT", cl_ord_id="rest1")
    [fill] = await okx.trade.get_fills(ord_id=ack.ord_id)
    assert (filled.state, filled.acc_fill_sz, filled.avg_px) == ("filled", Decimal("0.1"), Decimal("49000"))
    assert (fill.exec_type, fill.fill_px, fill.fee_ccy) == ("M", Decimal("49000"), "BTC")
    assert fill.fee == Decimal("-0.00008")  # maker 0.08% of 0.1 BTC, charged in what was bought


async def test_crossing_limit_takes_at_the_synthetic_price(okx: OKXClient) -> None:
    book = await okx.market.get_order_book("BTC-USDT", depth=1)
    best_ask = book.asks[0].px

    ack = await okx.trade.place_order(order(px="50100", sz="0.01"))

    result = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert result.state == "filled"
    assert result.avg_px == best_ask  # never worse than the book, never better
    assert result.exec_type is None or result.exec_type == "T"
    assert (await okx.trade.get_fills(ord_id=ack.ord_id))[0].exec_type == "T"


async def test_market_buy_is_sized_in_quote_by_default(okx: OKXClient) -> None:
    ack = await okx.trade.place_order(order(ord_type="market", px=None, sz="1000"))

    result = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert result.state == "filled"
    assert result.tgt_ccy == "quote_ccy"
    spent = result.acc_fill_sz * (result.avg_px or 0)
    assert Decimal("999") < spent <= Decimal("1000")  # the budget, to within one lot
    assert result.fee_ccy == "BTC"


async def test_market_buy_sized_in_base_walks_the_book(okx: OKXClient) -> None:
    book = await okx.market.get_order_book("BTC-USDT", depth=5)

    ack = await okx.trade.place_order(order(ord_type="market", px=None, sz="2", tgt_ccy="base_ccy"))

    result = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    fills = await okx.trade.get_fills(ord_id=ack.ord_id)
    assert (result.state, result.acc_fill_sz) == ("filled", Decimal("2"))
    assert len(fills) > 1  # more than the top level: slippage
    assert result.avg_px is not None and result.avg_px > book.asks[0].px
    assert sorted(fill.fill_px for fill in fills) == [level.px for level in book.asks[: len(fills)]]


async def test_market_sell_pays_fee_in_quote(okx: OKXClient) -> None:
    ack = await okx.trade.place_order(order(side="sell", ord_type="market", px=None, sz="0.1"))

    [fill] = await okx.trade.get_fills(ord_id=ack.ord_id)
    assert fill.fee_ccy == "USDT"
    assert fill.fee == -(fill.fill_px * fill.fill_sz * Decimal("0.001"))


async def test_post_only(okx: OKXClient) -> None:
    taking = await okx.trade.place_order(order(ord_type="post_only", px="51000"))
    resting = await okx.trade.place_order(order(ord_type="post_only", px="49000"))

    assert (await okx.trade.get_order("BTC-USDT", ord_id=taking.ord_id)).state == "canceled"
    assert (await okx.trade.get_order("BTC-USDT", ord_id=resting.ord_id)).state == "live"
    assert await okx.trade.get_fills(ord_id=taking.ord_id) == []


async def test_ioc_fills_what_it_can_and_cancels_the_rest(okx: OKXClient) -> None:
    book = await okx.market.get_order_book("BTC-USDT", depth=1)
    top = book.asks[0]

    ack = await okx.trade.place_order(order(ord_type="ioc", px=str(top.px), sz="5"))

    result = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert (result.state, result.acc_fill_sz) == ("canceled", top.sz)


async def test_fok_is_all_or_nothing(okx: OKXClient) -> None:
    book = await okx.market.get_order_book("BTC-USDT", depth=1)
    top = book.asks[0]

    too_big = await okx.trade.place_order(order(ord_type="fok", px=str(top.px), sz=str(top.sz + Decimal("0.01"))))
    exact = await okx.trade.place_order(order(ord_type="fok", px=str(top.px), sz=str(top.sz)))

    none = await okx.trade.get_order("BTC-USDT", ord_id=too_big.ord_id)
    whole = await okx.trade.get_order("BTC-USDT", ord_id=exact.ord_id)
    assert (none.state, none.acc_fill_sz) == ("canceled", 0)
    assert (whole.state, whole.acc_fill_sz) == ("filled", top.sz)


async def test_partial_fills_then_filled(okx: OKXClient, control: Control) -> None:
    ack = await okx.trade.place_order(order(px="49000", sz="3"))

    await control("POST", "price", {"instId": "BTC-USDT", "px": "48995"})
    partial = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    await control("POST", "price", {"instId": "BTC-USDT", "px": "48000"})
    done = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)

    assert partial.state == "partially_filled"
    assert 0 < partial.acc_fill_sz < 3
    assert (done.state, done.acc_fill_sz, done.avg_px) == ("filled", Decimal("3"), Decimal("49000"))
    fills = await okx.trade.get_fills(ord_id=ack.ord_id)
    assert sum(fill.fill_sz for fill in fills) == 3
    assert len({fill.trade_id for fill in fills}) == len(fills)


async def test_price_time_priority_among_resting_orders(okx: OKXClient, control: Control) -> None:
    first = await okx.trade.place_order(order(px="49000", sz="2", cl_ord_id="first"))
    second = await okx.trade.place_order(order(px="49000", sz="2", cl_ord_id="second"))
    better = await okx.trade.place_order(order(px="49010", sz="0.1", cl_ord_id="better"))

    await control("POST", "price", {"instId": "BTC-USDT", "px": "48995"})  # only some liquidity crosses 49000

    states = {o.cl_ord_id: (o.state, o.acc_fill_sz) for o in await okx.trade.get_pending_orders(inst_id="BTC-USDT")}
    assert (await okx.trade.get_order("BTC-USDT", ord_id=better.ord_id)).state == "filled"
    assert states["first"][0] == "partially_filled" and states["first"][1] > 0
    assert states["second"] == ("live", 0)
    assert first.ord_id != second.ord_id


async def test_swap_position_in_net_mode_with_ct_val(okx: OKXClient) -> None:
    opened = await okx.trade.place_order(order("BTC-USDT-SWAP", side="sell", ord_type="market", px=None, sz="10"))
    closed = await okx.trade.place_order(order("BTC-USDT-SWAP", side="buy", ord_type="market", px=None, sz="4"))

    [position] = await okx.account.get_positions(inst_type="SWAP")
    sold = await okx.trade.get_order("BTC-USDT-SWAP", ord_id=opened.ord_id)
    bought = await okx.trade.get_order("BTC-USDT-SWAP", ord_id=closed.ord_id)
    assert (position.pos, position.avg_px, position.pos_side) == (Decimal("-6"), sold.avg_px, "net")
    assert bought.avg_px is not None and sold.avg_px is not None
    expected_pnl = Decimal("4") * Decimal("0.01") * (sold.avg_px - bought.avg_px)
    assert position.realized_pnl == expected_pnl
    assert bought.fee_ccy == "USDT"
    assert bought.fee == -(bought.avg_px * Decimal("4") * Decimal("0.01") * Decimal("0.0005"))


async def test_spot_balances_follow_fills(okx: OKXClient, control: Control) -> None:
    before = await okx.account.get_balance("BTC", "USDT")
    ack = await okx.trade.place_order(order(px="49000", sz="1"))
    frozen = await okx.account.get_balance("USDT")
    await control("POST", "price", {"instId": "BTC-USDT", "px": "48000"})
    after = await okx.account.get_balance("BTC", "USDT")

    usdt_before, btc_before = before.currency("USDT"), before.currency("BTC")
    assert usdt_before and btc_before
    assert frozen.details[0].frozen_bal == Decimal("49000")
    assert after.currency("USDT").cash_bal == usdt_before.cash_bal - 49000  # type: ignore[union-attr]
    assert after.currency("BTC").cash_bal == btc_before.cash_bal + 1 - Decimal("0.0008")  # type: ignore[union-attr]
    assert (await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)).state == "filled"


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (order(sz="1000", px="49000"), OKXInsufficientBalance),
        (order(inst_id="DOGE-USDT"), OKXInstrumentNotFound),
        (order(sz="0.000000001"), OKXInvalidOrder),  # not a multiple of lotSz (51121)
        (order(sz="0.000001"), OKXInvalidOrder),  # below minSz (51020)
        (order(px="49000.05"), OKXParameterError),  # not a multiple of tickSz
        (order(cl_ord_id="has-dash"), OKXParameterError),
    ],
    ids=["51008", "51001", "51121", "51020", "tick", "clOrdId"],
)
async def test_refusals_carry_okx_codes(okx: OKXClient, request_: Any, error: type[OKXError]) -> None:
    with pytest.raises(error):
        await okx.trade.place_order(request_)


async def test_duplicate_client_order_id_while_pending(okx: OKXClient) -> None:
    await okx.trade.place_order(order(cl_ord_id="dup1"))
    with pytest.raises(OKXDuplicateClientOrderId):
        await okx.trade.place_order(order(cl_ord_id="dup1"))
    await okx.trade.cancel_order("BTC-USDT", cl_ord_id="dup1")

    # Unique only among pending orders, as at OKX: once finished, the id may be used again.
    again = await okx.trade.place_order(order(cl_ord_id="dup1"))
    assert (await okx.trade.get_order("BTC-USDT", cl_ord_id="dup1")).ord_id == again.ord_id


async def test_cancel_and_its_refusals(okx: OKXClient, control: Control) -> None:
    ack = await okx.trade.place_order(order(cl_ord_id="c1"))
    canceled = await okx.trade.cancel_order("BTC-USDT", ord_id=ack.ord_id)
    assert canceled.ok
    assert (await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)).state == "canceled"

    with pytest.raises(OKXOrderAlreadyFinished):
        await okx.trade.cancel_order("BTC-USDT", ord_id=ack.ord_id)
    with pytest.raises(OKXOrderAlreadyFinished):  # 51400 also covers "does not exist"
        await okx.trade.cancel_order("BTC-USDT", ord_id="1")
    with pytest.raises(OKXOrderNotFound):
        await okx.trade.get_order("BTC-USDT", ord_id="1")


async def test_cancel_races_a_fill_and_exactly_one_wins(okx: OKXClient, sim: OKXSimulator) -> None:
    ack = await okx.trade.place_order(order(px="49000", sz="0.5"))

    async def move_price() -> None:
        sim.exchange.set_price("BTC-USDT", Decimal("48000"), sim.now_ms())

    results = await asyncio.gather(
        okx.trade.cancel_order("BTC-USDT", ord_id=ack.ord_id), move_price(), return_exceptions=True
    )

    final = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    fills = await okx.trade.get_fills(ord_id=ack.ord_id)
    if isinstance(results[0], OKXOrderAlreadyFinished):
        assert (final.state, sum(f.fill_sz for f in fills)) == ("filled", Decimal("0.5"))
    else:
        assert (final.state, fills) == ("canceled", [])


async def test_amend_price_size_and_refusals(okx: OKXClient, control: Control) -> None:
    ack = await okx.trade.place_order(order(px="49000", sz="1", cl_ord_id="am1"))

    smaller = await okx.trade.amend_order(AmendRequest("BTC-USDT", cl_ord_id="am1", new_sz=Decimal("0.5"), req_id="r1"))
    amended = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert smaller.ok and smaller.req_id == "r1"
    assert (amended.sz, amended.px, amended.state) == (Decimal("0.5"), Decimal("49000"), "live")
    assert (await okx.account.get_balance("USDT")).details[0].frozen_bal == Decimal("24500")

    # Re-priced across the market: it takes at once.
    await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_px=Decimal("51000")))
    taken = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert (taken.state, taken.acc_fill_sz) == ("filled", Decimal("0.5"))

    with pytest.raises(OKXOrderAlreadyFinished):  # 51503
        await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_px=Decimal("49000")))
    with pytest.raises(OKXOrderNotFound):
        await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id="1", new_px=Decimal("49000")))


async def test_amend_to_what_filled_or_less_finishes_the_order_as_filled(okx: OKXClient, control: Control) -> None:
    """OKX: "If the new quantity of the order is less than or equal to the filled quantity when you are amending a
    partially-filled order, the order status will be changed to filled" (the simulator refused it with 51000)."""
    ack = await okx.trade.place_order(order(px="49000", sz="3"))
    await control("POST", "price", {"instId": "BTC-USDT", "px": "48995"})
    partial = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    raised = await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_sz=Decimal("4")))
    assert raised.ok and (await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)).sz == Decimal("4")

    shrunk = await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_sz=partial.acc_fill_sz))

    finished = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert shrunk.ok and 0 < partial.acc_fill_sz < 3
    assert (finished.state, finished.sz, finished.acc_fill_sz) == ("filled", partial.acc_fill_sz, partial.acc_fill_sz)
    assert (await okx.account.get_balance("USDT")).details[0].frozen_bal == 0  # nothing left held for it


async def test_a_post_only_amend_that_would_take_is_refused_and_the_order_kept(okx: OKXClient) -> None:
    ack = await okx.trade.place_order(order(ord_type="post_only", px="49000", sz="0.1"))

    with pytest.raises(OKXError) as refused:
        await okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_px=Decimal("51000")))

    kept = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    assert refused.value.code == "51511"  # OKX keeps it resting as it was (the simulator canceled it)
    assert (kept.state, kept.px) == ("live", Decimal("49000"))


async def test_batch_place_cancel_and_the_one_order_batch_ccxt_sends(okx: OKXClient) -> None:
    orders = [order(px=str(40000 + n), cl_ord_id=f"b{n}") for n in range(25)]

    results = await okx.trade.place_orders(orders)
    assert all(not isinstance(r, OKXError) and r.ok for r in results)
    pending = [o async for o in okx.trade.iter_pending_orders(inst_id="BTC-USDT", page_size=10)]
    assert len(pending) == 25

    one = await okx.request(
        "POST",
        "/api/v5/trade/batch-orders",
        body=[
            {
                "instId": "BTC-USDT",
                "tdMode": "cash",
                "side": "buy",
                "ordType": "limit",
                "sz": "0.01",
                "px": "40100",
                "clOrdId": "ccxt1",
                "tgtCcy": "base_ccy",
            }
        ],
    )
    assert one[0]["sCode"] == "0" and one[0]["clOrdId"] == "ccxt1"

    cancels = await okx.trade.cancel_orders([CancelRequest("BTC-USDT", cl_ord_id=f"b{n}") for n in range(25)])
    assert all(not isinstance(r, OKXError) for r in cancels)
    assert len(await okx.trade.get_pending_orders(inst_id="BTC-USDT")) == 1


async def test_history_and_fill_pagination(okx: OKXClient) -> None:
    for n in range(7):
        await okx.trade.place_order(order(ord_type="market", px=None, sz="100", cl_ord_id=f"h{n}"))

    history = [o async for o in okx.trade.iter_order_history("SPOT", page_size=3)]
    fills = [f async for f in okx.trade.iter_fills(inst_id="BTC-USDT", page_size=2)]

    assert [o.cl_ord_id for o in history] == [f"h{n}" for n in reversed(range(7))]  # newest first
    assert len(fills) >= 7
    assert len({f.trade_id for f in fills}) == len(fills)
    with pytest.raises(ValueError, match="begin_ms"):  # OKX would page that from the oldest end
        okx.trade.iter_order_history("SPOT", begin_ms=1)
    oldest = await okx.trade.get_order_history("SPOT", begin_ms=1, limit=2)  # `begin` alone: closest to it
    assert [o.cl_ord_id for o in oldest] == ["h1", "h0"]
    newest_fills = await okx.trade.get_fills(inst_id="BTC-USDT", begin_ms=1, limit=2)  # fills: still the newest
    assert [f.bill_id for f in newest_fills] == [f.bill_id for f in fills[:2]]


async def test_pages_of_open_orders_and_of_one_orders_fills_among_many_finished(okx: OKXClient) -> None:
    """The simulator keeps open orders and each order's fills apart (it answers from them without walking its
    whole history); the answers are OKX's: newest first, `after` older, `before` newer, at most `limit`."""
    resting = [await okx.trade.place_order(order(px=str(40000 + n), cl_ord_id=f"r{n}")) for n in range(5)]
    for n in range(6):  # finished orders in between: never listed as pending
        await okx.trade.place_order(order(ord_type="market", px=None, sz="100", cl_ord_id=f"m{n}"))
    await okx.trade.cancel_order("BTC-USDT", ord_id=resting[1].ord_id)
    walker = await okx.trade.place_order(order(ord_type="limit", px="51000", sz="0.05", cl_ord_id="walk"))
    open_ids = [ack.ord_id for ack in reversed(resting) if ack.ord_id != resting[1].ord_id]

    assert [o.ord_id for o in await okx.trade.get_pending_orders()] == open_ids
    assert [o.ord_id for o in await okx.trade.get_pending_orders(after=open_ids[0], limit=2)] == open_ids[1:3]
    # `before` alone: the rows closest to it (OKX's pagination guide), still newest first.
    assert [o.ord_id for o in await okx.trade.get_pending_orders(before=open_ids[-1], limit=2)] == open_ids[1:3]
    assert await okx.trade.get_pending_orders(inst_id="ETH-USDT") == []

    fills = await okx.trade.get_fills(ord_id=walker.ord_id)
    assert fills and {f.ord_id for f in fills} == {walker.ord_id}
    assert [f.bill_id for f in fills] == sorted((f.bill_id for f in fills), key=int, reverse=True)
    newest = await okx.trade.get_fills(ord_id=walker.ord_id, limit=1)
    assert [f.bill_id for f in newest] == [fills[0].bill_id]
    assert await okx.trade.get_fills(ord_id="700000000000999999") == []


async def test_same_seed_same_fills(okx: OKXClient) -> None:
    from tests.integration.okx.conftest import client_for, sim_config

    async def run(seed: int) -> list[tuple[str, Decimal, Decimal]]:
        async with OKXSimulator(sim_config(seed=seed)) as simulator, client_for(simulator) as client:
            await client.trade.place_order(order(px="49990", sz="1"))
            for _ in range(30):
                simulator.exchange.tick(simulator.now_ms())
            await client.trade.place_order(order(ord_type="market", px=None, sz="20000"))
            await client.trade.place_order(order(side="sell", ord_type="market", px=None, sz="0.7"))
            return [(f.trade_id, f.fill_px, f.fill_sz) async for f in client.trade.iter_fills()]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other


async def test_reduce_only_swap_order_can_be_amended(okx: OKXClient) -> None:
    await okx.trade.place_order(order("BTC-USDT-SWAP", ord_type="market", px=None, sz="1"))
    ack = await okx.trade.place_order(order("BTC-USDT-SWAP", side="sell", px="60000", sz="1", reduce_only=True))

    amended = await okx.trade.amend_order(AmendRequest("BTC-USDT-SWAP", ord_id=ack.ord_id, new_px=Decimal("61000")))

    assert amended.ok
    assert (await okx.trade.get_order("BTC-USDT-SWAP", ord_id=ack.ord_id)).px == Decimal("61000")


async def test_amend_races_a_fill_and_the_books_stay_consistent(okx: OKXClient, sim: OKXSimulator) -> None:
    ack = await okx.trade.place_order(order(px="49000", sz="0.5"))

    async def move_price() -> None:
        sim.exchange.set_price("BTC-USDT", Decimal("48000"), sim.now_ms())

    results = await asyncio.gather(
        okx.trade.amend_order(AmendRequest("BTC-USDT", ord_id=ack.ord_id, new_px=Decimal("47000"))),
        move_price(),
        return_exceptions=True,
    )

    final = await okx.trade.get_order("BTC-USDT", ord_id=ack.ord_id)
    fills = await okx.trade.get_fills(ord_id=ack.ord_id)
    if isinstance(results[0], OKXOrderAlreadyFinished):  # the fill won: filled at the old price
        assert (final.state, final.px) == ("filled", Decimal("49000"))
        assert {f.fill_px for f in fills} == {Decimal("49000")}
    else:  # the amend won: re-priced below the market, nothing filled
        assert (final.state, final.px, fills) == ("live", Decimal("47000"), [])
    assert sum((f.fill_sz for f in fills), Decimal(0)) == final.acc_fill_sz


async def test_a_channel_nobody_listens_to_costs_nothing(sim: OKXSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The account's balance is built for a push only while someone listens to `account` (it was 7 % of the
    simulator's CPU under load, for pushes nobody had asked for)."""
    exchange = sim.exchange
    built: list[Any] = []
    balance = exchange.balance
    monkeypatch.setattr(exchange, "balance", lambda *args, **kwargs: built.append(args) or balance(*args, **kwargs))
    heard: list[str] = []
    listening = {"orders"}
    exchange.subscribe(lambda channel, _data: heard.append(channel), wants=listening.__contains__)
    market_buy = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "0.01"}

    exchange.place(market_buy | {"tgtCcy": "base_ccy"}, sim.now_ms())
    assert built == [] and set(heard) == {"orders"}

    listening.add("account")
    exchange.place(market_buy | {"tgtCcy": "base_ccy"}, sim.now_ms())
    assert built and "account" in heard


async def test_an_order_canceled_unfilled_is_forgotten_after_okxs_retention_and_no_other(
    okx: OKXClient, sim: OKXSimulator, control: Control
) -> None:
    """OKX keeps an order canceled without a fill 2 h after it ended (orders-history; its order query too), any
    other finished order for days: the simulator forgets the first kind after `canceled_retention_s`."""
    filled = await okx.trade.place_order(order(px="49000", sz="0.1", cl_ord_id="filled1"))
    partly = await okx.trade.place_order(order(px="49000", sz="3", cl_ord_id="partly1"))
    await control("POST", "price", {"instId": "BTC-USDT", "px": "48995"})  # fills the first, part of the second
    await okx.trade.cancel_order("BTC-USDT", ord_id=partly.ord_id)
    unfilled = await okx.trade.place_order(order(px="48000", sz="0.1", cl_ord_id="unfilled1"))
    await okx.trade.cancel_order("BTC-USDT", ord_id=unfilled.ord_id)

    def listed() -> set[str]:
        return {o["clOrdId"] for o in sim.exchange.history({"instType": "SPOT"}, sim.now_ms())}

    assert listed() == {"filled1", "partly1", "unfilled1"}
    sim.exchange.canceled_retention_ms = 0
    await asyncio.sleep(0.01)

    with pytest.raises(OKXOrderNotFound):
        await okx.trade.get_order("BTC-USDT", ord_id=unfilled.ord_id)
    assert listed() == {"filled1", "partly1"}
    assert (await okx.trade.get_order("BTC-USDT", ord_id=filled.ord_id)).state == "filled"
    kept = await okx.trade.get_order("BTC-USDT", ord_id=partly.ord_id)
    assert kept.state == "canceled" and kept.acc_fill_sz > 0


async def test_fills_older_than_three_days_are_on_the_fills_history_only(okx: OKXClient, sim: OKXSimulator) -> None:
    ack = await okx.trade.place_order(order(ord_type="market", px=None, sz="100"))
    assert len(await okx.trade.get_fills(ord_id=ack.ord_id)) == 1
    sim.exchange.fills_retention_ms = 0  # the days pass
    await asyncio.sleep(0.01)

    assert await okx.trade.get_fills(ord_id=ack.ord_id) == []
    assert len(await okx.trade.get_fills(inst_type="SPOT", ord_id=ack.ord_id, history=True)) == 1
