"""The simulated exchange's state and matching: orders, fills, balances and positions of one OKX account.

Rules, as OKX applies them where this simulates it:
- Takers match the synthetic liquidity of `SyntheticMarket` best price first (walking levels: slippage), up to
  their limit price. Resting orders keep price-time priority and fill, as makers at their own price, when the
  synthetic market crosses them (a price move). All orders belong to one account, so a taker that would cross one
  of its own resting orders cancels that resting order first (OKX's default self-trade prevention, cancel_maker).
- `market` fills what the book offers and cancels the rest; `ioc` likewise up to its price; `fok` fills entirely or
  not at all; `post_only` is canceled if it would take; spot market buys are sized in quote (`tgtCcy` default).
- Spot in cash mode freezes what an order may spend (quote for buys, base for sells); fees are charged in what is
  received (base on buys, quote on sells). Linear USDT swaps in net mode freeze initial margin (size × ctVal × price
  / lever), keep an average-cost position and settle realized PnL and fees in USDT.
- Every change is published to listeners as an OKX-shaped push (`orders`, `account`, `positions`).
Nothing here does I/O or reads the clock directly: the server passes `now_ms`, so tests and seeds are reproducible.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from app.services.okx.simulator.instruments import SimInstrument, fmt
from app.services.okx.simulator.market import SyntheticMarket

__all__ = ["SimError", "SimExchange", "SimOrder", "SimPosition", "Wallet"]

ORDER_ID_BASE = 700_000_000_000_000_000
TRADE_ID_BASE = 900_000_000
BILL_ID_BASE = 800_000_000_000_000_000
MAX_PENDING_PER_INSTRUMENT = 500
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")
ORDER_TYPES = {"market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc"}
TERMINAL = {"filled", "canceled", "mmp_canceled"}
CANCELED_RETENTION_S = 2 * 3600.0
FILLS_RETENTION_S = 3 * 86400.0
ZERO = Decimal(0)

Listener = Callable[[str, dict[str, Any]], None]


class SimError(Exception):
    """A refusal with OKX's code and message (per item for trade endpoints, top level otherwise)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SimError("51000", f"Parameter {name} error") from None
    if not number.is_finite():
        raise SimError("51000", f"Parameter {name} error")
    return number


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


@dataclass
class Wallet:
    cash: Decimal = ZERO
    frozen: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.cash - self.frozen


@dataclass
class SimPosition:
    instrument: SimInstrument
    pos: Decimal = ZERO  # contracts, signed (net mode)
    avg_px: Decimal | None = None
    realized_pnl: Decimal = ZERO
    pos_id: str = ""
    trade_id: str = ""  # the last fill that moved it (OKX's `tradeId`)
    c_time: int = 0
    u_time: int = 0

    def margin(self) -> Decimal:
        if self.pos == 0 or self.avg_px is None:
            return ZERO
        return abs(self.pos) * self.instrument.multiplier * self.avg_px / self.instrument.lever


@dataclass(eq=False)
class SimOrder:
    ord_id: str
    cl_ord_id: str
    tag: str
    instrument: SimInstrument
    side: str
    ord_type: str
    td_mode: str
    sz: Decimal
    px: Decimal | None
    tgt_ccy: str
    reduce_only: bool
    c_time: int
    seq: int
    state: str = "live"
    acc_fill_sz: Decimal = ZERO
    fill_notional: Decimal = ZERO  # sum of price × size, for avgPx
    fee: Decimal = ZERO  # cumulative, OKX sign (negative = charged)
    fee_ccy: str = ""
    u_time: int = 0
    # The last fill (OKX repeats it on the order object).
    fill_px: Decimal | None = None
    fill_sz: Decimal | None = None
    fill_time: int | None = None
    trade_id: str = ""
    exec_type: str = ""
    fill_fee: Decimal | None = None
    # What this order still holds frozen, in `frozen_ccy`; and the quote budget of a quote-sized market order.
    frozen: Decimal = ZERO
    frozen_ccy: str = ""
    quote_budget: Decimal | None = None
    quote_spent: Decimal = ZERO
    cancel_source: str = ""
    req_id: str = ""
    amend_result: str = ""
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.sz - self.acc_fill_sz

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def avg_px(self) -> Decimal | None:
        return self.fill_notional / self.acc_fill_sz if self.acc_fill_sz else None

    def to_okx(self, *, push: bool = False) -> dict[str, Any]:
        instrument = self.instrument
        data: dict[str, Any] = {
            "instType": instrument.inst_type,
            "instId": instrument.inst_id,
            "ordId": self.ord_id,
            "clOrdId": self.cl_ord_id,
            "tag": self.tag,
            "px": fmt(self.px),
            "sz": fmt(self.sz),
            "ordType": self.ord_type,
            "side": self.side,
            "posSide": "net",
            "tdMode": self.td_mode,
            "tgtCcy": self.tgt_ccy,
            "state": self.state,
            "accFillSz": fmt(self.acc_fill_sz),
            "avgPx": fmt(self.avg_px),
            "fillPx": fmt(self.fill_px),
            "fillSz": fmt(self.fill_sz),
            "fillTime": "" if self.fill_time is None else str(self.fill_time),
            "tradeId": self.trade_id,
            "fee": fmt(self.fee),
            "feeCcy": self.fee_ccy,
            "rebate": "0",
            "rebateCcy": instrument.quote_ccy,
            "pnl": "0",
            "lever": fmt(instrument.lever) if instrument.is_swap else "",
            "reduceOnly": "true" if self.reduce_only else "false",
            "cancelSource": self.cancel_source,
            "cancelSourceReason": "",
            "category": "normal",
            "source": "",
            "stpMode": "cancel_maker",
            "attachAlgoOrds": [],
            "algoId": "",
            "algoClOrdId": "",
            "cTime": str(self.c_time),
            "uTime": str(self.u_time or self.c_time),
        }
        if push:
            data.update(
                {
                    "execType": self.exec_type,
                    "fillFee": fmt(self.fill_fee),
                    "fillFeeCcy": self.fee_ccy if self.fill_fee is not None else "",
                    "fillNotionalUsd": fmt(self.fill_px * self.fill_sz * instrument.multiplier)
                    if self.fill_px is not None and self.fill_sz is not None
                    else "",
                    "amendResult": self.amend_result,
                    "reqId": self.req_id,
                    "code": "0",
                    "msg": "",
                }
            )
        return data


class SimExchange:
    def __init__(
        self,
        instruments: Iterable[SimInstrument],
        balances: dict[str, Decimal],
        *,
        seed: int = 1,
        uid: str = "610000000000001",
        canceled_retention_s: float = CANCELED_RETENTION_S,
    ) -> None:
        self.seed = seed
        self.uid = uid
        # OKX forgets an order canceled without any fill this long after it ended: gone from the order's query
        # and from orders-history (its pitfalls: "unfilled canceled orders vanish after 2 h"). Tests shorten it.
        self.canceled_retention_ms = int(canceled_retention_s * 1000)
        self.fills_retention_ms = int(FILLS_RETENTION_S * 1000)  # /trade/fills (fills-history: 3 months)
        self.instruments = {instrument.inst_id: instrument for instrument in instruments}
        self.markets = {
            inst_id: SyntheticMarket(instrument, random.Random(f"{seed}:{inst_id}"))
            for inst_id, instrument in self.instruments.items()
        }
        self.wallets: dict[str, Wallet] = {ccy: Wallet(cash=amount) for ccy, amount in balances.items()}
        for instrument in self.instruments.values():
            self.wallets.setdefault(instrument.base_ccy, Wallet())
            self.wallets.setdefault(instrument.quote_ccy, Wallet())
        self.positions: dict[str, SimPosition] = {}
        # Resting orders per instrument and side, best first: bids by (-px, seq), asks by (px, seq).
        self._books: dict[str, dict[str, list[SimOrder]]] = {
            inst_id: {"buy": [], "sell": []} for inst_id in self.instruments
        }
        # Every order, and the open ones apart, each in placement order (= ordId order): the queries below walk
        # them newest first and stop at a page, so a reconciliation against a long-running simulator costs what it
        # returns, not what the simulator has ever seen (it shares the machine with what is measured).
        self.orders: dict[str, SimOrder] = {}
        self._open: dict[str, SimOrder] = {}
        self._by_client_id: dict[str, SimOrder] = {}
        self._pending_client_ids: dict[str, SimOrder] = {}
        self.fills: list[dict[str, Any]] = []
        self._listeners: list[Listener] = []
        self._wants: list[Callable[[str], bool]] = []
        self._order_seq = 0
        self._trade_seq = 0
        self._bill_seq = 0
        self.now_ms = 0

    # --- listeners ------------------------------------------------------------------------------------------

    def subscribe(self, listener: Listener, *, wants: Callable[[str], bool] | None = None) -> None:
        """Call `listener(channel, data)` on every change; `wants(channel)` says whether a channel's data is needed
        now, so that nothing is built for a channel nobody listens to (the account's balance on every fill)."""
        self._listeners.append(listener)
        self._wants.append(wants or (lambda _channel: True))

    def _listened(self, channel: str) -> bool:
        return any(wants(channel) for wants in self._wants)

    def _publish(self, channel: str, data: dict[str, Any]) -> None:
        for listener in self._listeners:
            listener(channel, data)

    def _publish_order(self, order: SimOrder) -> None:
        if self._listened("orders"):
            self._publish("orders", order.to_okx(push=True))

    def _publish_account(self, currencies: Iterable[str]) -> None:
        if self._listened("account"):
            self._publish("account", self.balance(list(currencies)))

    def _publish_position(self, inst_id: str) -> None:
        position = self.positions.get(inst_id)
        if position is not None and self._listened("positions"):
            self._publish("positions", self._position_to_okx(position))

    # --- lookups --------------------------------------------------------------------------------------------

    def instrument(self, inst_id: str | None) -> SimInstrument:
        if not inst_id:
            raise SimError("50014", "Parameter instId can not be empty.")
        found = self.instruments.get(inst_id)
        if found is None:
            raise SimError("51001", "Instrument ID doesn't exist.")
        return found

    def find_order(self, inst_id: str | None, ord_id: str | None, cl_ord_id: str | None) -> SimOrder | None:
        order = self.orders.get(ord_id) if ord_id else self._by_client_id.get(cl_ord_id or "")
        if order is None or (inst_id and order.instrument.inst_id != inst_id):
            return None
        return order

    def query_order(self, inst_id: str | None, ord_id: str | None, cl_ord_id: str | None, now_ms: int) -> SimOrder:
        """An order as `GET trade/order` finds it: not one OKX no longer keeps (`forgotten`)."""
        order = self.find_order(inst_id, ord_id, cl_ord_id)
        if order is None or self.forgotten(order, now_ms):
            raise SimError("51603", "Order does not exist.")
        return order

    def forgotten(self, order: SimOrder, now_ms: int) -> bool:
        """Canceled without a fill, and ended longer ago than OKX keeps such an order."""
        return (
            order.state in ("canceled", "mmp_canceled")
            and order.acc_fill_sz == 0
            and now_ms - order.u_time > self.canceled_retention_ms
        )

    def mark_price(self, inst_id: str) -> Decimal:
        return self.markets[inst_id].mid

    # --- placing --------------------------------------------------------------------------------------------

    def place(self, params: dict[str, Any], now_ms: int) -> SimOrder:
        """Validate, freeze funds, match as taker, rest the remainder; raises `SimError` on refusal."""
        self.now_ms = now_ms
        p = {key: value for key, value in params.items() if value not in ("", None)}
        instrument = self.instrument(p.get("instId"))
        for name in ("tdMode", "side", "ordType", "sz"):
            if name not in p:
                raise SimError("50014", f"Parameter {name} can not be empty.")
        td_mode, side, ord_type = str(p["tdMode"]), str(p["side"]), str(p["ordType"])
        if td_mode not in (("cross", "isolated") if instrument.is_swap else ("cash",)):
            raise SimError("51000", "Parameter tdMode error")
        if side not in ("buy", "sell"):
            raise SimError("51000", "Parameter side error")
        if ord_type not in ORDER_TYPES or (ord_type == "optimal_limit_ioc" and not instrument.is_swap):
            raise SimError("51000", "Parameter ordType error")
        cl_ord_id = str(p.get("clOrdId", ""))
        if cl_ord_id and not CLIENT_ID.match(cl_ord_id):
            raise SimError("51000", "Parameter clOrdId error")
        if cl_ord_id and cl_ord_id in self._pending_client_ids:
            raise SimError("51016", "Client order ID already exists.")
        tag = str(p.get("tag", ""))
        if tag and not TAG.match(tag):
            raise SimError("51000", "Parameter tag error")
        sz = _decimal(p["sz"], "sz")
        if sz <= 0:
            raise SimError("51000", "Parameter sz error")
        is_market = ord_type in ("market", "optimal_limit_ioc")
        px: Decimal | None = None
        if not is_market:
            if "px" not in p:
                raise SimError("50014", "Parameter px can not be empty.")
            px = _decimal(p["px"], "px")
            if px <= 0 or not _is_multiple(px, instrument.tick_sz):
                raise SimError("51000", "Parameter px error")
        tgt_ccy = ""
        if is_market and not instrument.is_swap:
            tgt_ccy = str(p.get("tgtCcy") or ("quote_ccy" if side == "buy" else "base_ccy"))
            if tgt_ccy not in ("base_ccy", "quote_ccy"):
                raise SimError("51000", "Parameter tgtCcy error")
        quote_sized = tgt_ccy == "quote_ccy"
        if not quote_sized:
            if not _is_multiple(sz, instrument.lot_sz):
                raise SimError("51121", "Order quantity must be a multiple of the lot size.")
            if sz < instrument.min_sz:
                raise SimError("51020", "Your order should meet or exceed the minimum order amount.")
        book = self._books[instrument.inst_id]
        if len(book["buy"]) + len(book["sell"]) >= MAX_PENDING_PER_INSTRUMENT:
            raise SimError("51174", "The number of pending orders reached the upper limit.")
        reduce_only = str(p.get("reduceOnly", "false")).lower() == "true"
        if reduce_only and instrument.is_swap:
            position = self.positions.get(instrument.inst_id)
            held = position.pos if position is not None else ZERO
            if held == 0:
                raise SimError(
                    "51169",
                    "Order failed because you don't have any positions in this direction for this contract to "
                    "reduce or close.",
                )
            if (held > 0) == (side == "buy"):
                raise SimError(
                    "51170",
                    "Failed to place order. A reduce-only order can't be the same trading direction as your "
                    "existing positions.",
                )

        self._order_seq += 1
        order = SimOrder(
            ord_id=str(ORDER_ID_BASE + self._order_seq),
            cl_ord_id=cl_ord_id,
            tag=tag,
            instrument=instrument,
            side=side,
            ord_type=ord_type,
            td_mode=td_mode,
            sz=sz,
            px=px,
            tgt_ccy=tgt_ccy,
            reduce_only=reduce_only,
            c_time=now_ms,
            seq=self._order_seq,
            u_time=now_ms,
        )
        self._freeze(order)  # raises 51008 before anything is recorded
        self.orders[order.ord_id] = order
        self._open[order.ord_id] = order
        if cl_ord_id:
            self._by_client_id[cl_ord_id] = order
            self._pending_client_ids[cl_ord_id] = order
        self._execute(order)
        return order

    def _freeze(self, order: SimOrder) -> None:
        instrument = order.instrument
        market = self.markets[instrument.inst_id]
        if instrument.is_swap:
            if order.reduce_only:
                return
            reference = (
                order.px if order.px is not None else market.best("ask" if order.is_buy else "bid") or market.mid
            )
            amount, ccy = order.sz * instrument.multiplier * reference / instrument.lever, instrument.settle_ccy
        elif order.is_buy:
            ccy = instrument.quote_ccy
            if order.tgt_ccy == "quote_ccy":
                order.quote_budget = order.sz
                amount = order.sz
            elif order.px is not None:
                amount = order.sz * order.px
            else:  # base-sized market buy: what it can afford is checked fill by fill
                amount = ZERO
        else:
            ccy = instrument.base_ccy
            if order.tgt_ccy == "quote_ccy":  # quote-sized market sell: base needed is estimated at the best bid
                order.quote_budget = order.sz
                best_bid = market.best("bid") or market.mid
                amount = (order.sz / best_bid / instrument.lot_sz).to_integral_value(ROUND_FLOOR) * instrument.lot_sz
            else:
                amount = order.sz
        wallet = self.wallets[ccy]
        if amount > wallet.available or (amount == 0 and order.is_buy and wallet.available <= 0):
            raise SimError("51008", f"Order failed. Insufficient {ccy} balance in account")
        wallet.frozen += amount
        order.frozen, order.frozen_ccy = amount, ccy

    def _release(self, order: SimOrder, amount: Decimal | None = None) -> None:
        """Unfreeze `amount` (default: everything the order still holds)."""
        amount = order.frozen if amount is None else min(amount, order.frozen)
        if amount and order.frozen_ccy:
            self.wallets[order.frozen_ccy].frozen -= amount
            order.frozen -= amount

    def _execute(self, order: SimOrder) -> None:
        instrument = order.instrument
        market = self.markets[instrument.inst_id]
        opposite = "ask" if order.is_buy else "bid"
        best = market.best(opposite)
        crosses = order.px is None or (best is not None and (best <= order.px if order.is_buy else best >= order.px))
        if order.ord_type == "post_only" and crosses:
            self._finish(order, "canceled", cancel_source="post_only_would_take")
            return
        if order.ord_type == "fok" and self._fillable(order) < order.sz:
            self._finish(order, "canceled", cancel_source="fok_not_fillable")
            return
        self._take(order)
        if order.state in TERMINAL:
            return
        if order.ord_type in ("limit", "post_only"):
            self._rest(order)
            if order.acc_fill_sz == 0:
                self._publish_order(order)
            return
        # market / ioc / optimal_limit_ioc: what did not fill now is canceled; a quote-sized market order whose
        # budget cannot buy another lot is filled.
        if order.quote_budget is not None and order.acc_fill_sz > 0 and self._budget_exhausted(order):
            self._finish(order, "filled")
        else:
            self._finish(order, "canceled", cancel_source="not_fully_fillable" if order.acc_fill_sz else "")

    def _budget_exhausted(self, order: SimOrder) -> bool:
        """A quote-sized market order is done when what is left cannot buy one more lot at the best price."""
        best = self.markets[order.instrument.inst_id].best("ask" if order.is_buy else "bid")
        left = (order.quote_budget or ZERO) - order.quote_spent
        return best is None or left < best * order.instrument.lot_sz

    def _fillable(self, order: SimOrder) -> Decimal:
        market = self.markets[order.instrument.inst_id]
        total = ZERO
        for _, price, available in market.levels_for("ask" if order.is_buy else "bid"):
            if order.px is not None and (price > order.px if order.is_buy else price < order.px):
                break
            total += available
        return total

    def _crosses(self, taker: SimOrder, price: Decimal) -> bool:
        """Whether `taker` may trade at `price` (always, for a market order)."""
        return taker.px is None or (price <= taker.px if taker.is_buy else price >= taker.px)

    def _take(self, order: SimOrder) -> None:
        """Walk the opposite side best price first. Our own resting orders met on the way are canceled
        (self-trade prevention, cancel_maker); the synthetic liquidity is what fills."""
        instrument = order.instrument
        market = self.markets[instrument.inst_id]
        side = "ask" if order.is_buy else "bid"
        own = self._books[instrument.inst_id]["sell" if order.is_buy else "buy"]
        while order.state not in TERMINAL:
            levels = market.levels_for(side)
            synthetic = levels[0] if levels else None
            maker = own[0] if own else None
            if (
                maker is not None
                and maker.px is not None
                and self._crosses(order, maker.px)
                and (synthetic is None or (maker.px <= synthetic[1] if order.is_buy else maker.px >= synthetic[1]))
            ):
                self._unrest(maker)
                self._finish(maker, "canceled", cancel_source="self_trade_prevention")
                continue
            if synthetic is None or not self._crosses(order, synthetic[1]):
                return
            index, price, available = synthetic
            size = min(available, self._wanted(order, price))
            if size <= 0:
                return
            market.consume(side, index, size)
            self._fill(order, price, size, taker=True)

    def _wanted(self, order: SimOrder, price: Decimal) -> Decimal:
        """How much the order still wants at `price`, in its size unit, limited by what it can pay for."""
        instrument = order.instrument
        lot = instrument.lot_sz
        if order.quote_budget is not None:
            left = order.quote_budget - order.quote_spent
            wanted = (left / price / lot).to_integral_value(ROUND_FLOOR) * lot
        else:
            wanted = order.remaining
        if order.is_buy and not instrument.is_swap and order.px is None and order.quote_budget is None:
            # Base-sized market buy: nothing frozen up front, so it buys what the quote balance covers.
            affordable = self.wallets[instrument.quote_ccy].available / price
            wanted = min(wanted, (affordable / lot).to_integral_value(ROUND_FLOOR) * lot)
        if not order.is_buy and not instrument.is_swap and order.quote_budget is not None:
            wanted = min(wanted, order.frozen)
        return wanted

    def _fill(self, order: SimOrder, price: Decimal, size: Decimal, *, taker: bool) -> None:
        instrument = order.instrument
        now = self.now_ms
        rate = instrument.taker_fee_rate if taker else instrument.maker_fee_rate
        notional = price * size * instrument.multiplier
        touched = {instrument.quote_ccy}
        if instrument.is_swap:
            fee, fee_ccy = notional * rate, instrument.settle_ccy
            reference = order.px if order.px is not None else price
            self._release(order, size * instrument.multiplier * reference / instrument.lever)
            realized = self._apply_position(instrument, size if order.is_buy else -size, price, now)
            self.wallets[fee_ccy].cash += realized - fee
        elif order.is_buy:
            fee, fee_ccy = size * rate, instrument.base_ccy
            if order.quote_budget is not None:
                self._release(order, notional)
            elif order.px is not None:
                self._release(order, size * order.px)
            self.wallets[instrument.quote_ccy].cash -= notional
            self.wallets[instrument.base_ccy].cash += size - fee
            touched.add(instrument.base_ccy)
        else:
            fee, fee_ccy = notional * rate, instrument.quote_ccy
            self._release(order, size)
            self.wallets[instrument.base_ccy].cash -= size
            self.wallets[instrument.quote_ccy].cash += notional - fee
            touched.add(instrument.base_ccy)

        self._trade_seq += 1
        self._bill_seq += 1
        order.acc_fill_sz += size
        order.fill_notional += price * size
        if order.quote_budget is not None:
            order.quote_spent += notional
        order.fee -= fee
        order.fee_ccy = fee_ccy
        order.fill_px, order.fill_sz, order.fill_time = price, size, now
        order.trade_id = str(TRADE_ID_BASE + self._trade_seq)
        if instrument.is_swap:
            self.positions[instrument.inst_id].trade_id = order.trade_id
        order.exec_type = "T" if taker else "M"
        order.fill_fee = -fee
        order.u_time = now
        order.amend_result = ""
        done = order.remaining <= 0 if order.quote_budget is None else False
        order.state = "filled" if done else "partially_filled"
        fill = {
            "instType": instrument.inst_type,
            "instId": instrument.inst_id,
            "tradeId": order.trade_id,
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "billId": str(BILL_ID_BASE + self._bill_seq),
            "tag": order.tag,
            "side": order.side,
            "posSide": "net",
            "fillPx": fmt(price),
            "fillSz": fmt(size),
            "fee": fmt(-fee),
            "feeCcy": fee_ccy,
            "feeRate": fmt(-rate),
            "execType": order.exec_type,
            "subType": "1" if order.is_buy else "2",
            "fillTime": str(now),
            "ts": str(now),
        }
        self.fills.append(fill)
        order.fills.append(fill)
        self.markets[instrument.inst_id].record_trade(price, size)
        if done:
            self._finish(order, "filled")
        else:
            self._publish_order(order)
        self._publish_account(touched)
        if instrument.is_swap:
            self._publish_position(instrument.inst_id)

    def _apply_position(self, instrument: SimInstrument, signed: Decimal, price: Decimal, now: int) -> Decimal:
        """Average-cost net position; returns the realized PnL of the part this fill closed."""
        position = self.positions.get(instrument.inst_id)
        if position is None:
            position = self.positions[instrument.inst_id] = SimPosition(
                instrument, pos_id=str(self._order_seq), c_time=now
            )
        realized = ZERO
        current = position.pos
        if current == 0 or (current > 0) == (signed > 0):
            average = position.avg_px or price
            position.avg_px = (abs(current) * average + abs(signed) * price) / (abs(current) + abs(signed))
            position.pos = current + signed
        else:
            closed = min(abs(signed), abs(current))
            direction = 1 if current > 0 else -1
            realized = closed * instrument.multiplier * (price - (position.avg_px or price)) * direction
            position.pos = current + signed
            if position.pos == 0:
                position.avg_px = None
            elif (position.pos > 0) != (current > 0):
                position.avg_px = price  # flipped: the remainder opens at this price
        position.realized_pnl += realized
        position.u_time = now
        return realized

    def _finish(self, order: SimOrder, state: str, *, cancel_source: str = "") -> None:
        order.state = state
        self._open.pop(order.ord_id, None)
        order.cancel_source = cancel_source
        order.u_time = self.now_ms
        self._release(order)
        if self._pending_client_ids.get(order.cl_ord_id) is order:
            del self._pending_client_ids[order.cl_ord_id]
        self._publish_order(order)
        if order.frozen_ccy:
            self._publish_account([order.frozen_ccy])

    # --- the book of resting orders -------------------------------------------------------------------------

    @staticmethod
    def _priority(order: SimOrder) -> tuple[Decimal, int]:
        assert order.px is not None
        return (-order.px if order.is_buy else order.px, order.seq)

    def _rest(self, order: SimOrder) -> None:
        side = self._books[order.instrument.inst_id][order.side]
        bisect.insort(side, order, key=self._priority)

    def _unrest(self, order: SimOrder) -> None:
        side = self._books[order.instrument.inst_id][order.side]
        if order in side:
            side.remove(order)

    def resting(self, inst_id: str, side: str) -> list[SimOrder]:
        return list(self._books[inst_id][side])

    # --- cancel / amend -------------------------------------------------------------------------------------

    def cancel(self, inst_id: str | None, ord_id: str | None, cl_ord_id: str | None, now_ms: int) -> SimOrder:
        self.now_ms = now_ms
        self.instrument(inst_id)
        if not ord_id and not cl_ord_id:
            raise SimError("51003", "Either client order ID or order ID is required.")
        order = self.find_order(inst_id, ord_id, cl_ord_id)
        if order is None or order.state in TERMINAL:
            raise SimError(
                "51400", "Order cancellation failed as the order has been filled, canceled or does not exist."
            )
        self._unrest(order)
        self._finish(order, "canceled", cancel_source="user_canceled")
        return order

    def cancel_all(self, tag: str | None, now_ms: int) -> list[SimOrder]:
        """What cancel-all-after does when it fires: every pending order (of `tag`, if given)."""
        self.now_ms = now_ms
        victims = [o for o in self._open.values() if not tag or o.tag == tag]
        for order in victims:
            self._unrest(order)
            self._finish(order, "canceled", cancel_source="cancel_all_after")
        return victims

    def amend(self, params: dict[str, Any], now_ms: int) -> SimOrder:
        self.now_ms = now_ms
        p = {key: value for key, value in params.items() if value not in ("", None)}
        instrument = self.instrument(p.get("instId"))
        if "ordId" not in p and "clOrdId" not in p:
            raise SimError("51003", "Either client order ID or order ID is required.")
        order = self.find_order(instrument.inst_id, p.get("ordId"), p.get("clOrdId"))
        if order is None:
            raise SimError("51603", "Order does not exist.")
        if order.state in TERMINAL:
            raise SimError("51503", "Your order has already been filled or canceled.")
        if "newSz" not in p and "newPx" not in p:
            raise SimError("51000", "Parameter newSz error")
        if order.px is None:
            raise SimError("51000", "Parameter ordType error")
        new_sz = _decimal(p["newSz"], "newSz") if "newSz" in p else order.sz
        new_px = _decimal(p["newPx"], "newPx") if "newPx" in p else order.px
        if new_sz <= 0 or not _is_multiple(new_sz, instrument.lot_sz):
            raise SimError("51000", "Parameter newSz error")
        if new_px <= 0 or not _is_multiple(new_px, instrument.tick_sz):
            raise SimError("51000", "Parameter newPx error")
        if order.acc_fill_sz > 0 and new_sz <= order.acc_fill_sz:
            # OKX: "If the new quantity … is less than or equal to the filled quantity when you are amending a
            # partially-filled order, the order status will be changed to filled."
            self._unrest(order)
            order.sz = order.acc_fill_sz
            order.req_id, order.amend_result, order.u_time = str(p.get("reqId", "")), "0", now_ms
            self._finish(order, "filled")
            return order
        if new_sz < instrument.min_sz:
            raise SimError("51000", "Parameter newSz error")
        opposite = "ask" if order.is_buy else "bid"
        best = self.markets[instrument.inst_id].best(opposite)
        crosses = best is not None and (best <= new_px if order.is_buy else best >= new_px)
        if crosses and order.ord_type == "post_only":  # OKX refuses it and keeps the order as it was
            raise SimError(
                "51511", "Modification failed as the order price did not meet the requirement for Post Only."
            )
        # Re-freeze for the new remainder at the new price; refuse (nothing changed) if funds do not cover it.
        old = (order.sz, order.px, order.frozen)
        self._release(order)
        order.sz, order.px = new_sz, new_px
        try:
            self._freeze_remainder(order)
        except SimError:
            order.sz, order.px = old[0], old[1]
            self._freeze_amount(order, old[2])
            raise SimError("51502", "Order modification failed for insufficient margin or balance.") from None
        self._unrest(order)
        if new_px != old[1] or new_sz > old[0]:
            self._order_seq += 1
            order.seq = self._order_seq  # a better price or a larger size goes to the back of the queue
        order.req_id = str(p.get("reqId", ""))
        order.amend_result = "0"
        order.u_time = now_ms
        if crosses:
            self._publish_order(order)
            self._take(order)
            if order.state not in TERMINAL:
                self._rest(order)
        else:
            self._rest(order)
            self._publish_order(order)
        return order

    def _freeze_amount(self, order: SimOrder, amount: Decimal) -> None:
        if order.frozen_ccy:
            self.wallets[order.frozen_ccy].frozen += amount
            order.frozen += amount

    def _freeze_remainder(self, order: SimOrder) -> None:
        instrument = order.instrument
        assert order.px is not None
        if instrument.is_swap:
            amount = (
                ZERO if order.reduce_only else order.remaining * instrument.multiplier * order.px / instrument.lever
            )
        elif order.is_buy:
            amount = order.remaining * order.px
        else:
            amount = order.remaining
        if amount == 0:
            return  # a reduce-only swap order holds nothing
        if amount > self.wallets[order.frozen_ccy].available:
            raise SimError("51502", "insufficient")
        self._freeze_amount(order, amount)

    # --- the market moving ----------------------------------------------------------------------------------

    def set_price(self, inst_id: str, price: Decimal, now_ms: int) -> Decimal:
        """Move an instrument's synthetic mid (control endpoint / ticks) and fill what it crosses."""
        self.now_ms = now_ms
        mid = self.markets[self.instrument(inst_id).inst_id].set_mid(price)
        self._match_resting(inst_id)
        return mid

    def tick(self, now_ms: int) -> None:
        """One step of every instrument's seeded price path."""
        self.now_ms = now_ms
        for inst_id, market in self.markets.items():
            before = market.mid
            market.step()
            if market.mid != before:
                self._match_resting(inst_id)

    def _match_resting(self, inst_id: str) -> None:
        """Resting orders the synthetic market now crosses fill as makers at their own price, best first."""
        market = self.markets[inst_id]
        for side, opposite in (("buy", "ask"), ("sell", "bid")):
            book_side = self._books[inst_id][side]
            while book_side:
                order = book_side[0]
                assert order.px is not None
                crossing = [
                    level
                    for level in market.levels_for(opposite)
                    if (level[1] <= order.px if order.is_buy else level[1] >= order.px)
                ]
                if not crossing:
                    break
                for index, _, available in crossing:
                    size = min(available, order.remaining)
                    market.consume(opposite, index, size)
                    self._fill(order, order.px, size, taker=False)
                    if order.remaining <= 0:
                        break
                if order.remaining > 0:
                    break  # the crossing liquidity is used up
                if book_side and book_side[0] is order:
                    book_side.pop(0)

    # --- queries --------------------------------------------------------------------------------------------

    @staticmethod
    def _page(
        newest_first: Iterable[Any],
        key: Callable[[Any], int],
        keep: Callable[[Any], bool],
        after: str | None,
        before: str | None,
        limit: Any,
        *,
        from_the_oldest: bool = False,
    ) -> list[Any]:
        """OKX's pagination over rows given newest first (by `key`): `after` = older than that id, `before` = newer
        than it, at most `limit` (100), newest first. Given `before` alone (or `from_the_oldest`: orders-history
        given `begin` alone), OKX answers the rows *closest to it*, the oldest of those that match (its
        pagination guide); otherwise the newest, and the walk stops as soon as the page is full."""
        try:
            size = min(100, max(1, int(limit))) if limit not in (None, "") else 100
            older_than, newer_than = (int(after) if after else None), (int(before) if before else None)
        except ValueError:
            raise SimError("51000", "Parameter limit error") from None
        oldest = from_the_oldest or (newer_than is not None and older_than is None)
        page: list[Any] = []
        for row in newest_first:
            position = key(row)
            if newer_than is not None and position <= newer_than:
                break
            if (older_than is None or position < older_than) and keep(row):
                page.append(row)
                if len(page) == size and not oldest:
                    break
        return page[-size:]

    @staticmethod
    def _order_filter(q: dict[str, Any]) -> Callable[[SimOrder], bool]:
        inst_type, inst_id, ord_type, state = q.get("instType"), q.get("instId"), q.get("ordType"), q.get("state")
        return lambda o: (
            (not inst_type or o.instrument.inst_type == inst_type)
            and (not inst_id or o.instrument.inst_id == inst_id)
            and (not ord_type or o.ord_type == ord_type)
            and (not state or o.state == state)
        )

    def pending(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        page = self._page(
            reversed(self._open.values()),
            _ord_id,
            self._order_filter(q),
            q.get("after"),
            q.get("before"),
            q.get("limit"),
        )
        return [o.to_okx() for o in page]

    def history(self, q: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        if not q.get("instType"):
            raise SimError("50014", "Parameter instType can not be empty.")
        begin, end = int(q.get("begin") or 0), int(q.get("end") or 2**63)
        matches = self._order_filter(q)

        def keep(o: SimOrder) -> bool:
            return o.state in TERMINAL and begin <= o.c_time <= end and matches(o) and not self.forgotten(o, now_ms)

        page = self._page(
            reversed(self.orders.values()),
            _ord_id,
            keep,
            q.get("after"),
            q.get("before"),
            q.get("limit"),
            from_the_oldest=bool(q.get("begin")) and not any(q.get(name) for name in ("end", "after", "before")),
        )
        return [o.to_okx() for o in page]

    def fills_query(self, q: dict[str, Any], now_ms: int, *, history: bool = False) -> list[dict[str, Any]]:
        if history and not q.get("instType"):
            raise SimError("50014", "Parameter instType can not be empty.")
        begin, end = int(q.get("begin") or 0), int(q.get("end") or 2**63)
        if not history:  # /trade/fills keeps 3 days
            begin = max(begin, now_ms - self.fills_retention_ms)
        inst_type, inst_id, ord_id = q.get("instType"), q.get("instId"), q.get("ordId")
        rows = self.fills
        if ord_id:  # an order's own fills: what reconciling one order asks for
            order = self.orders.get(ord_id)
            rows = order.fills if order is not None else []

        def keep(f: dict[str, Any]) -> bool:
            return (
                (not inst_type or f["instType"] == inst_type)
                and (not inst_id or f["instId"] == inst_id)
                and (not ord_id or f["ordId"] == ord_id)
                and begin <= int(f["ts"]) <= end
            )

        return self._page(reversed(rows), _bill_id, keep, q.get("after"), q.get("before"), q.get("limit"))

    def _usd_price(self, ccy: str) -> Decimal:
        if ccy in ("USDT", "USDC", "USD"):
            return Decimal(1)
        market = self.markets.get(f"{ccy}-USDT")
        return market.mid if market is not None else ZERO

    def _upl(self, position: SimPosition) -> Decimal:
        if position.pos == 0 or position.avg_px is None:
            return ZERO
        return (
            position.pos
            * position.instrument.multiplier
            * (self.mark_price(position.instrument.inst_id) - position.avg_px)
        )

    def balance(self, currencies: list[str] | None = None) -> dict[str, Any]:
        details = []
        total_usd = ZERO
        position_margin = sum((p.margin() for p in self.positions.values()), ZERO)
        upl = sum((self._upl(p) for p in self.positions.values()), ZERO)
        for ccy, wallet in sorted(self.wallets.items()):
            if currencies and ccy not in currencies:
                continue
            settle = ccy == "USDT"
            frozen = wallet.frozen + (position_margin if settle else ZERO)
            equity = wallet.cash + (upl if settle else ZERO)
            usd = equity * self._usd_price(ccy)
            total_usd += usd
            details.append(
                {
                    "ccy": ccy,
                    "eq": fmt(equity),
                    "cashBal": fmt(wallet.cash),
                    "availBal": fmt(wallet.cash - frozen),
                    "availEq": fmt(equity - frozen),
                    "frozenBal": fmt(frozen),
                    "ordFrozen": fmt(wallet.frozen),
                    "upl": fmt(upl if settle else ZERO),
                    "eqUsd": fmt(usd),
                    "disEq": fmt(usd),
                    "uTime": str(self.now_ms),
                }
            )
        return {
            "totalEq": fmt(total_usd),
            "uTime": str(self.now_ms),
            "details": details,
            "imr": fmt(position_margin),
            "mmr": "",
            "notionalUsd": "",
            "ordFroz": "",
            "adjEq": fmt(total_usd),
            "upl": fmt(upl),
        }

    def _position_to_okx(self, position: SimPosition) -> dict[str, Any]:
        instrument = position.instrument
        mark = self.mark_price(instrument.inst_id)
        upl = self._upl(position)
        margin = position.margin()
        return {
            "instType": instrument.inst_type,
            "instId": instrument.inst_id,
            "posId": position.pos_id,
            "posSide": "net",
            "pos": fmt(position.pos),
            "avgPx": fmt(position.avg_px),
            "markPx": fmt(mark),
            "upl": fmt(upl),
            "uplRatio": fmt(upl / margin) if margin else "0",
            "realizedPnl": fmt(position.realized_pnl),
            "lever": fmt(instrument.lever),
            "mgnMode": "cross",
            "margin": fmt(margin),
            "imr": fmt(margin),
            "mmr": fmt(margin / 2),
            "liqPx": "",
            "notionalUsd": fmt(abs(position.pos) * instrument.multiplier * mark),
            "ccy": instrument.settle_ccy,
            "tradeId": position.trade_id,
            "cTime": str(position.c_time),
            "uTime": str(position.u_time),
        }

    def positions_query(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        inst_ids = set(str(q["instId"]).split(",")) if q.get("instId") else None
        return [
            self._position_to_okx(p)
            for p in self.positions.values()
            if p.pos != 0
            and (not q.get("instType") or p.instrument.inst_type == q["instType"])
            and (inst_ids is None or p.instrument.inst_id in inst_ids)
        ]

    def ticker(self, inst_id: str, now_ms: int) -> dict[str, Any]:
        market = self.markets[self.instrument(inst_id).inst_id]
        instrument = market.instrument
        asks, bids = market.levels_for("ask"), market.levels_for("bid")
        return {
            "instType": instrument.inst_type,
            "instId": inst_id,
            "last": fmt(market.last),
            "lastSz": fmt(market.last_sz),
            "askPx": fmt(asks[0][1]) if asks else "",
            "askSz": fmt(asks[0][2]) if asks else "",
            "bidPx": fmt(bids[0][1]) if bids else "",
            "bidSz": fmt(bids[0][2]) if bids else "",
            "open24h": fmt(market.open24h),
            "high24h": fmt(market.high24h),
            "low24h": fmt(market.low24h),
            "volCcy24h": fmt(market.vol24h * market.mid * instrument.multiplier),
            "vol24h": fmt(market.vol24h),
            "sodUtc0": fmt(market.open24h),
            "sodUtc8": fmt(market.open24h),
            "ts": str(now_ms),
        }

    def book_levels(self, inst_id: str, depth: int) -> tuple[list[list[str]], list[list[str]]]:
        """OKX book rows `[px, sz, "0", orders]`: synthetic liquidity merged with resting orders."""
        market = self.markets[self.instrument(inst_id).inst_id]
        result = []
        for side, synthetic in (("sell", "ask"), ("buy", "bid")):
            levels: dict[Decimal, list[Decimal]] = {}
            for _, price, available in market.levels_for(synthetic):
                levels.setdefault(price, [ZERO, ZERO])
                levels[price][0] += available
                levels[price][1] += 1
            for order in self._books[inst_id][side]:
                assert order.px is not None
                levels.setdefault(order.px, [ZERO, ZERO])
                levels[order.px][0] += order.remaining
                levels[order.px][1] += 1
            ordered = sorted(levels.items(), key=lambda item: item[0], reverse=side == "buy")[:depth]
            result.append([[fmt(px), fmt(size), "0", str(int(count))] for px, (size, count) in ordered])
        return result[0], result[1]

    def state(self) -> dict[str, Any]:
        """Everything the exchange holds, for tests to compare with the service's database."""
        return {
            "orders": [{**o.to_okx(), "fills": o.fills} for o in self.orders.values()],
            "balances": {
                ccy: {"cash": fmt(w.cash), "frozen": fmt(w.frozen)} for ccy, w in sorted(self.wallets.items())
            },
            "positions": [self._position_to_okx(p) for p in self.positions.values()],
            "prices": {inst_id: fmt(market.mid) for inst_id, market in self.markets.items()},
        }


def _ord_id(order: SimOrder) -> int:
    return int(order.ord_id)


def _bill_id(fill: dict[str, Any]) -> int:
    return int(fill["billId"])
