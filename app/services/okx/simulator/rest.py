"""The simulator's OKX v5 REST surface: envelope, signature check, rate limits, expTime, faults, and the endpoints.

Answers are shaped like OKX's: `{"code","msg","data"}`, numbers as strings, per-item `sCode`/`sMsg` on trade
endpoints (top code "1" when every item failed, "2" when some did), auth errors without `data`, 50011 when a rate
limit is exceeded. Empty-string fields are absent, as at OKX.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from app.services.okx.auth import sign
from app.services.okx.constants import BATCH_MAX, WS_TRADE_OPS, Path
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator.config import SimulatorConfig
from app.services.okx.simulator.engine import SimError, SimExchange, SimOrder

__all__ = ["RestApi"]

Handler = Callable[[web.Request, Any], Awaitable[list[Any]]]
PUBLIC_PREFIXES = ("/api/v5/public/", "/api/v5/market/")
# Trade endpoints whose requests carry expTime, and those whose answer the lose-response fault may drop.
EXP_TIME_PATHS = {Path.ORDER, Path.BATCH_ORDERS, Path.AMEND_ORDER, "/api/v5/trade/amend-batch-orders"}
LOSABLE_PATHS = {Path.ORDER, Path.BATCH_ORDERS, Path.AMEND_ORDER, Path.CANCEL_ORDER, Path.CANCEL_BATCH_ORDERS}


def _envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def _reply(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload, separators=(",", ":")), status=status, content_type="application/json")


def _items_envelope(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Trade endpoints: "0" when every item succeeded, "1" when all failed, "2" when some did."""
    failed = sum(1 for item in items if item["sCode"] != "0")
    if failed == 0:
        return _envelope(items)
    if failed == len(items):
        return _envelope(items, "1", "All operations failed")
    return _envelope(items, "2", "Bulk operation partially succeeded")


class RestApi:
    def __init__(self, exchange: SimExchange, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.exchange = exchange
        self.config = config
        self.faults = config.faults
        self._clock = clock
        self._rng = random.Random(f"{config.seed}:faults")
        self._limiter = RateLimiter(enabled=config.rate_limits)
        self._dead_man_timers: dict[str, asyncio.TimerHandle] = {}
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", Path.TIME): self.time,
            ("GET", Path.INSTRUMENTS): self.instruments,
            ("GET", Path.TICKER): self.ticker,
            ("GET", Path.TICKERS): self.tickers,
            ("GET", Path.BOOKS): self.books,
            ("GET", Path.ORDER): self.get_order,
            ("GET", Path.ORDERS_PENDING): self.orders_pending,
            ("GET", Path.ORDERS_HISTORY): self.orders_history,
            ("GET", "/api/v5/trade/orders-history-archive"): self.orders_history,
            ("GET", Path.FILLS): self.fills,
            ("GET", Path.FILLS_HISTORY): self.fills_history,
            ("GET", Path.BALANCE): self.balance,
            ("GET", Path.POSITIONS): self.positions,
            ("GET", Path.ACCOUNT_CONFIG): self.account_config,
            ("GET", "/api/v5/asset/currencies"): self.currencies,
            ("POST", Path.CANCEL_ALL_AFTER): self.cancel_all_after,
        }
        self._trade_routes: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
            Path.ORDER: self.place_order,
            Path.BATCH_ORDERS: self.place_batch,
            Path.CANCEL_ORDER: self.cancel_order,
            Path.CANCEL_BATCH_ORDERS: self.cancel_batch,
            Path.AMEND_ORDER: self.amend_order,
        }

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/v5/{tail:.*}", self.dispatch)

    # --- the request pipeline -------------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        method, path = request.method, request.path
        body_text = (await request.read()).decode() if request.can_read_body else ""
        if not path.startswith(PUBLIC_PREFIXES):
            refusal = self._authenticate(request, method, body_text)
            if refusal is not None:
                return refusal
        body: Any = None
        if method == "POST":
            if not body_text.strip():
                return _reply(_envelope([], "50000", "Body can not be empty."), 400)
            try:
                body = json.loads(body_text)
            except ValueError:
                return _reply(_envelope([], "50002", "Json data format error."), 400)
        params = dict(request.query)
        items = body if isinstance(body, list) else [body if isinstance(body, dict) else params]
        if not await self._limiter.try_acquire(method, path, items):
            return _reply(_envelope([], "50011", "Too Many Requests"), 429)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            if self._rng.random() < 0.5:
                return _reply(_envelope([], "50001", "Service temporarily unavailable. Please try again later."), 503)
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        try:
            if method == "POST" and path in self._trade_routes:
                payload, status = self._trade(path, body, request.headers.get("expTime", ""))
                if self._loses_answer(path):
                    return self._lose(request)
                return _reply(payload, status)
            route = self._routes.get((method, path))
            if route is None:
                return _reply(
                    _envelope([], "50014" if method == "GET" else "50000", f"Unknown endpoint {method} {path}"), 404
                )
            return _reply(_envelope(await route(request, body if method == "POST" else params)))
        except SimError as exc:
            return _reply(_envelope([], exc.code, exc.message), 400 if exc.code in ("50014", "51000") else 200)

    def _authenticate(self, request: web.Request, method: str, body: str) -> web.Response | None:
        headers = request.headers
        key = headers.get("OK-ACCESS-KEY", "")
        signature = headers.get("OK-ACCESS-SIGN", "")
        timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
        passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")

        def refuse(code: str, msg: str) -> web.Response:
            return _reply({"msg": msg, "code": code}, 401)  # OKX's auth errors carry no data

        if not key:
            return refuse("50103", 'Request header "OK-ACCESS-KEY" can not be empty.')
        if not passphrase:
            return refuse("50104", 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.')
        if not signature:
            return refuse("50106", 'Request header "OK-ACCESS-SIGN" can not be empty.')
        if not timestamp:
            return refuse("50107", 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.')
        if not hmac.compare_digest(key, self.config.api_key):
            return refuse("50111", "Invalid OK-ACCESS-KEY.")
        if not hmac.compare_digest(passphrase, self.config.passphrase):
            return refuse("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')
        try:
            sent_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return refuse("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        if abs(self._clock() - sent_at) > self.config.timestamp_tolerance_s:
            return refuse("50102", "Timestamp request expired.")
        # Verified over the raw request target and body bytes, never re-encoded.
        expected = sign(self.config.secret_key, timestamp, method, request.raw_path, body)
        if not hmac.compare_digest(signature, expected):
            return refuse("50113", "Invalid signature.")
        return None

    def _trade(self, path: str, body: Any, exp_time: str) -> tuple[dict[str, Any], int]:
        """A trade endpoint's envelope and HTTP status, whether it came by REST or as a WebSocket op."""
        if path in EXP_TIME_PATHS and exp_time:
            # OKX does not process a place/amend that arrives after its `expTime`.
            try:
                deadline = int(exp_time)
            except ValueError:
                return _envelope([], "51000", "Parameter expTime error"), 400
            if self.now_ms() > deadline:
                return _envelope([], "50037", "Order expired."), 200
        return _items_envelope(self._trade_routes[path](body)), 200

    def _loses_answer(self, path: str) -> bool:
        rate = self.faults.lose_response_rate
        return path in LOSABLE_PATHS and bool(rate) and self._rng.random() < rate

    async def trade_op(self, op: str, args: Any, exp_time: str) -> dict[str, Any] | None:
        """A trading op from the private WebSocket (`order`, `cancel-order`, …): the same rate limits (OKX shares
        them with REST), expTime, faults and answers as the REST endpoint it stands for. None: the lose-response
        fault struck (the work is done, no answer goes out)."""
        path = WS_TRADE_OPS[op]
        if not isinstance(args, list) or not args or not all(isinstance(arg, dict) for arg in args):
            return _envelope([], "60013", "Invalid args")
        if not await self._limiter.try_acquire("POST", path, args):
            return _envelope([], "50011", "Too Many Requests")
        faults = self.faults
        if faults.error_rate and self._rng.random() < faults.error_rate:
            return _envelope([], "50001", "Service temporarily unavailable. Please try again later.")
        body = args if path in (Path.BATCH_ORDERS, Path.CANCEL_BATCH_ORDERS) else args[0]
        try:
            payload, _ = self._trade(path, body, exp_time)
        except SimError as exc:
            payload = _envelope([], exc.code, exc.message)
        return None if self._loses_answer(path) else payload

    @staticmethod
    def _lose(request: web.Request) -> web.Response:
        """The lose-response fault: the work is done, then the connection is cut before any answer."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    # --- trade endpoints ------------------------------------------------------------------------------------

    def _order_item(
        self, order: SimOrder | None, cl_ord_id: str, error: SimError | None, msg: str = ""
    ) -> dict[str, Any]:
        return {
            "clOrdId": order.cl_ord_id if order else cl_ord_id,
            "ordId": order.ord_id if order else "",
            "tag": order.tag if order else "",
            "ts": str(self.now_ms()),
            "sCode": error.code if error else "0",
            "sMsg": error.message if error else msg,
        }

    def _place_one(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            return self._order_item(None, "", SimError("50002", "Json data format error."))
        try:
            return self._order_item(self.exchange.place(params, self.now_ms()), "", None, "Order placed")
        except SimError as exc:
            return self._order_item(None, str(params.get("clOrdId") or ""), exc)

    def place_order(self, body: Any) -> list[dict[str, Any]]:
        return [self._place_one(body)]

    def place_batch(self, body: Any) -> list[dict[str, Any]]:
        # ccxt places even a single order through this path, as a one-element array.
        orders = body if isinstance(body, list) else [body]
        if not orders or len(orders) > BATCH_MAX:
            raise SimError("51000", "Parameter orders error")
        return [self._place_one(params) for params in orders]

    def _cancel_one(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            return self._order_item(None, "", SimError("50002", "Json data format error."))
        p = {k: v for k, v in params.items() if v not in ("", None)}
        try:
            order = self.exchange.cancel(p.get("instId"), p.get("ordId"), p.get("clOrdId"), self.now_ms())
            return self._order_item(order, "", None)
        except SimError as exc:
            item = self._order_item(None, str(p.get("clOrdId", "")), exc)
            item["ordId"] = str(p.get("ordId", ""))
            return item

    def cancel_order(self, body: Any) -> list[dict[str, Any]]:
        return [self._cancel_one(body)]

    def cancel_batch(self, body: Any) -> list[dict[str, Any]]:
        cancels = body if isinstance(body, list) else [body]
        if not cancels or len(cancels) > BATCH_MAX:
            raise SimError("51000", "Parameter orders error")
        return [self._cancel_one(params) for params in cancels]

    def amend_order(self, body: Any) -> list[dict[str, Any]]:
        params = body if isinstance(body, dict) else {}
        req_id = str(params.get("reqId") or "")
        try:
            order = self.exchange.amend(params, self.now_ms())
            item = self._order_item(order, "", None)
        except SimError as exc:
            item = self._order_item(None, str(params.get("clOrdId") or ""), exc)
            item["ordId"] = str(params.get("ordId") or "")
        item["reqId"] = req_id
        return [item]

    async def cancel_all_after(self, request: web.Request, body: Any) -> list[Any]:
        params = body if isinstance(body, dict) else {}
        try:
            timeout_s = int(str(params.get("timeOut", "")))
        except ValueError:
            raise SimError("51000", "Parameter timeOut error") from None
        if timeout_s != 0 and not 10 <= timeout_s <= 120:
            raise SimError("51000", "Parameter timeOut error")
        tag = str(params.get("tag") or "")
        previous = self._dead_man_timers.pop(tag, None)
        if previous is not None:
            previous.cancel()
        now_s = int(self._clock())
        if timeout_s:
            loop = asyncio.get_running_loop()
            self._dead_man_timers[tag] = loop.call_later(
                timeout_s * self.config.dead_man_time_scale,
                lambda: self.exchange.cancel_all(tag or None, self.now_ms()),
            )
        return [{"triggerTime": str(now_s + timeout_s) if timeout_s else "0", "tag": tag, "ts": str(now_s)}]

    def close(self) -> None:
        for timer in self._dead_man_timers.values():
            timer.cancel()
        self._dead_man_timers.clear()

    # --- queries --------------------------------------------------------------------------------------------

    async def get_order(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        self.exchange.instrument(q.get("instId"))
        if not q.get("ordId") and not q.get("clOrdId"):
            raise SimError("51003", "Either client order ID or order ID is required.")
        return [self.exchange.query_order(q.get("instId"), q.get("ordId"), q.get("clOrdId"), self.now_ms()).to_okx()]

    async def orders_pending(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return self.exchange.pending(q)

    async def orders_history(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return self.exchange.history(q, self.now_ms())

    async def fills(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return self.exchange.fills_query(q, self.now_ms())

    async def fills_history(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return self.exchange.fills_query(q, self.now_ms(), history=True)

    async def balance(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        currencies = [ccy for ccy in str(q.get("ccy", "")).split(",") if ccy]
        return [self.exchange.balance(currencies or None)]

    async def positions(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return self.exchange.positions_query(q)

    async def account_config(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return [
            {
                "uid": self.exchange.uid,
                "mainUid": self.exchange.uid,
                "acctLv": "2",
                "posMode": "net_mode",
                "autoLoan": False,
                "greeksType": "PA",
                "level": "Lv1",
                "levelTmp": "",
                "ctIsoMode": "automatic",
                "mgnIsoMode": "automatic",
                "perm": "read_only,trade",
                "label": "okx-simulator",
                "ip": "",
            }
        ]

    async def currencies(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        wanted = {ccy for ccy in str(q.get("ccy", "")).split(",") if ccy}
        return [
            {
                "ccy": ccy,
                "chain": f"{ccy}-Simulated",
                "name": ccy,
                "canDep": True,
                "canWd": True,
                "canInternal": True,
                "fee": "0",
                "minFee": "0",
                "maxFee": "0",
                "minWd": "0",
                "maxWd": "1000000000",
                "wdTickSz": "8",
                "minDep": "0",
                "mainNet": True,
            }
            for ccy in sorted(self.exchange.wallets)
            if not wanted or ccy in wanted
        ]

    # --- public ---------------------------------------------------------------------------------------------

    async def time(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return [{"ts": str(self.now_ms())}]

    async def instruments(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        inst_type = q.get("instType")
        if not inst_type:
            raise SimError("50014", "Parameter instType can not be empty.")
        return [
            instrument.to_okx()
            for instrument in self.exchange.instruments.values()
            if instrument.inst_type == inst_type and (not q.get("instId") or instrument.inst_id == q["instId"])
        ]

    async def ticker(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        return [self.exchange.ticker(str(q.get("instId", "")), self.now_ms())]

    async def tickers(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        inst_type = q.get("instType")
        if not inst_type:
            raise SimError("50014", "Parameter instType can not be empty.")
        return [
            self.exchange.ticker(inst_id, self.now_ms())
            for inst_id, instrument in self.exchange.instruments.items()
            if instrument.inst_type == inst_type
        ]

    async def books(self, request: web.Request, q: dict[str, Any]) -> list[Any]:
        try:
            depth = min(400, max(1, int(q.get("sz") or 1)))  # OKX sends one level when sz is absent
        except ValueError:
            raise SimError("51000", "Parameter sz error") from None
        asks, bids = self.exchange.book_levels(str(q.get("instId", "")), depth)
        return [{"asks": asks, "bids": bids, "ts": str(self.now_ms())}]
