"""The simulator's OKX v5 WebSockets: `/ws/v5/private` (login; `orders`, `positions`, `account`) and
`/ws/v5/public` (`tickers`, `books`), with text `ping`→`pong` and OKX's idle disconnect (close 4004). The private one
also carries OKX's trading ops (`order`, `cancel-order`, …), carried out by the REST surface's own code (`TradeOp`).

Private pushes follow every order change and fill the engine publishes, in OKX's push format, through a per-
connection queue (so they keep their order) where the duplicate / reorder faults act. Public channels are pushed
every 100 ms when they changed; `books` sends a snapshot, then updates with seqId/prevSeqId and OKX's checksum.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from app.services.okx.auth import WS_LOGIN_PATH, sign
from app.services.okx.constants import WS_TRADE_OPS
from app.services.okx.simulator.config import SimulatorConfig
from app.services.okx.simulator.engine import SimError, SimExchange
from app.tasks import stop_tasks

__all__ = ["TradeOp", "WsHub", "book_checksum"]

# Carries out one trading op (op, args, expTime) as its REST endpoint would; None when the answer is to be lost.
TradeOp = Callable[[str, Any, str], Awaitable[dict[str, Any] | None]]

PRIVATE_CHANNELS = {"orders", "positions", "account"}
PUBLIC_CHANNELS = {"tickers", "books"}
BOOK_DEPTH = 400
REORDER_FLUSH_S = 0.5


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


def book_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's signed CRC32 over `bid1px:bid1sz:ask1px:ask1sz:…` of the top 25 levels, leftover side appended."""
    parts: list[str] = []
    for index in range(25):
        if index < len(bids):
            parts += bids[index][:2]
        if index < len(asks):
            parts += asks[index][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


@dataclass
class _BookState:
    bids: dict[str, list[str]]
    asks: dict[str, list[str]]
    seq_id: int


@dataclass(eq=False)
class _Session:
    ws: web.WebSocketResponse
    private: bool
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    logged_in: bool = False
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    last_activity: float = field(default_factory=time.monotonic)
    held: str | None = None
    held_timer: asyncio.TimerHandle | None = None
    tickers: dict[str, str] = field(default_factory=dict)
    books: dict[str, _BookState] = field(default_factory=dict)
    delayed: set[asyncio.Task[None]] = field(default_factory=set)


class WsHub:
    def __init__(
        self,
        exchange: SimExchange,
        config: SimulatorConfig,
        clock: Callable[[], float] = time.time,
        *,
        trade: TradeOp | None = None,
    ) -> None:
        self.exchange = exchange
        self.trade = trade
        self.config = config
        self.faults = config.faults
        self._clock = clock
        self._rng = random.Random(f"{config.seed}:pushes")
        self.sessions: set[_Session] = set()
        exchange.subscribe(self._on_exchange_event, wants=self._has_subscribers)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws/v5/private", self.private_handler)
        app.router.add_get("/ws/v5/public", self.public_handler)

    async def private_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, private=True)

    async def public_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, private=False)

    async def close_all(self, code: int = 1001, message: bytes = b"Connection dropped") -> None:
        for session in list(self.sessions):
            await session.ws.close(code=code, message=message)

    # --- one connection -------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, *, private: bool) -> web.WebSocketResponse:
        if self.config.faults.ws_down:
            raise web.HTTPServiceUnavailable(text="WebSocket service unavailable (simulated outage)")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=2**22)
        await ws.prepare(request)
        session = _Session(ws=ws, private=private)
        self.sessions.add(session)
        writer = asyncio.create_task(self._write(session))
        idle = self.config.ws_idle_timeout_s
        try:
            while not ws.closed:
                remaining = idle - (time.monotonic() - session.last_activity)
                if remaining <= 0:
                    await ws.close(code=4004, message=b"No data received in 30s.")
                    break
                try:
                    message = await ws.receive(timeout=remaining)
                except TimeoutError:
                    continue
                if message.type is WSMsgType.TEXT:
                    session.last_activity = time.monotonic()
                    await self._handle(session, message.data)
                elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self.sessions.discard(session)
            if session.held_timer is not None:
                session.held_timer.cancel()
            await stop_tasks([writer, *session.delayed])
        return ws

    async def _write(self, session: _Session) -> None:
        while True:
            text = await session.queue.get()
            if session.ws.closed:
                return
            try:
                await session.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            session.last_activity = time.monotonic()

    def _send(self, session: _Session, message: Any) -> None:
        session.queue.put_nowait(message if isinstance(message, str) else _dumps(message))

    def _error(self, session: _Session, code: str, msg: str) -> None:
        self._send(session, {"event": "error", "code": code, "msg": msg, "connId": session.conn_id})

    async def _handle(self, session: _Session, text: str) -> None:
        if text == "ping":
            self._send(session, "pong")
            return
        try:
            message = json.loads(text)
            op, args = message["op"], message.get("args", [])
        except (ValueError, KeyError, TypeError):
            self._error(session, "60012", f"Invalid request: {text[:200]}")
            return
        if op == "login" and session.private:
            self._login(session, args)
        elif op in ("subscribe", "unsubscribe"):
            for arg in args if isinstance(args, list) else []:
                self._subscription(session, op, arg, message.get("id"))
        elif op in WS_TRADE_OPS and session.private:
            if self.faults.latency_ms:  # answered later, without holding up the ops behind it
                task = asyncio.create_task(self._trade_later(session, op, message))
                session.delayed.add(task)
                task.add_done_callback(session.delayed.discard)
            else:
                await self._trade(session, op, message)
        else:
            self._error(session, "60012", f"Invalid request: {text[:200]}")

    async def _trade_later(self, session: _Session, op: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(self.faults.latency_ms / 1000)
        await self._trade(session, op, message)

    async def _trade(self, session: _Session, op: str, message: dict[str, Any]) -> None:
        """A trading op: answered with its `id`, OKX's envelope and `inTime`/`outTime` (µs), like the REST call."""
        in_time = str(int(self._clock() * 1_000_000))
        reply: dict[str, Any] = {"id": str(message.get("id") or ""), "op": op}
        if not session.logged_in:
            reply |= {"code": "60011", "msg": "Please log in", "data": []}
        elif self.trade is None:
            reply |= {"code": "60012", "msg": f"Invalid request: op {op} is not served here", "data": []}
        else:
            payload = await self.trade(op, message.get("args"), str(message.get("expTime") or ""))
            if payload is None:  # the lose-response fault: the work is done, the connection is cut unanswered
                await session.ws.close(code=1011, message=b"Connection lost")
                return
            reply |= payload
        reply["inTime"], reply["outTime"] = in_time, str(int(self._clock() * 1_000_000))
        self._send(session, reply)

    def _login(self, session: _Session, args: Any) -> None:
        try:
            login = args[0]
            timestamp = str(login["timestamp"])  # ccxt sends a string, python-okx a number: both are fine
            api_key, passphrase, signature = login["apiKey"], login["passphrase"], login["sign"]
            sent_at = float(timestamp)
        except (IndexError, KeyError, TypeError, ValueError):
            self._error(session, "60012", "Invalid request: login args")
            return
        if not hmac.compare_digest(str(api_key), self.config.api_key):
            self._error(session, "60005", "Invalid apiKey")
        elif not hmac.compare_digest(str(passphrase), self.config.passphrase):
            self._error(session, "60024", "Wrong passphrase")
        elif abs(self._clock() - sent_at) > self.config.timestamp_tolerance_s:
            self._error(session, "60006", "Timestamp request expired")
        elif not hmac.compare_digest(str(signature), sign(self.config.secret_key, timestamp, "GET", WS_LOGIN_PATH)):
            self._error(session, "60007", "Invalid sign")
        else:
            session.logged_in = True
            self._send(session, {"event": "login", "code": "0", "msg": "", "connId": session.conn_id})

    def _subscription(self, session: _Session, op: str, arg: Any, request_id: Any) -> None:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        allowed = PRIVATE_CHANNELS if session.private else PUBLIC_CHANNELS
        if channel not in allowed:
            self._error(session, "60018", f"Wrong URL or channel:{channel} doesn't exist. Please use the correct URL.")
            return
        if session.private and not session.logged_in:
            self._error(session, "60011", "Please log in")
            return
        if channel in ("orders", "positions") and not arg.get("instType"):
            self._error(session, "60018", f"Wrong URL or channel:{channel},instType:, doesn't exist.")
            return
        if channel in PUBLIC_CHANNELS and arg.get("instId") not in self.exchange.instruments:
            self._error(session, "60018", f"Wrong URL or channel:{channel},instId:{arg.get('instId')} doesn't exist.")
            return
        ack: dict[str, Any] = {"event": op, "arg": arg, "connId": session.conn_id}
        if request_id is not None:
            ack["id"] = request_id
        if op == "unsubscribe":
            session.subscriptions = [existing for existing in session.subscriptions if existing != arg]
            if channel in PUBLIC_CHANNELS:
                session.tickers.pop(str(arg.get("instId")), None)
                session.books.pop(str(arg.get("instId")), None)
            self._send(session, ack)
            return
        if arg not in session.subscriptions:
            session.subscriptions.append(arg)
        self._send(session, ack)
        self._snapshot(session, arg)

    def _snapshot(self, session: _Session, arg: dict[str, Any]) -> None:
        channel = arg["channel"]
        if channel == "positions":
            rows = self.exchange.positions_query(
                {"instType": None if arg["instType"] == "ANY" else arg["instType"], "instId": arg.get("instId")}
            )
            self._send(
                session, {"arg": self._arg(arg), "eventType": "snapshot", "curPage": 1, "lastPage": True, "data": rows}
            )
        elif channel == "account":
            self._send(
                session,
                {
                    "arg": self._arg(arg),
                    "eventType": "snapshot",
                    "curPage": 1,
                    "lastPage": True,
                    "data": [self._account_for(arg, self.exchange.balance())],
                },
            )
        elif channel in PUBLIC_CHANNELS:
            self.push_public(session)

    def _arg(self, arg: dict[str, Any]) -> dict[str, Any]:
        return {**arg, "uid": self.exchange.uid}

    @staticmethod
    def _account_for(arg: dict[str, Any], balance: dict[str, Any]) -> dict[str, Any]:
        if not arg.get("ccy"):
            return balance
        return {**balance, "details": [d for d in balance["details"] if d["ccy"] == arg["ccy"]]}

    # --- private pushes -------------------------------------------------------------------------------------

    def _has_subscribers(self, channel: str) -> bool:
        return any(
            session.logged_in and any(arg["channel"] == channel for arg in session.subscriptions)
            for session in self.sessions
            if session.private
        )

    def _on_exchange_event(self, channel: str, data: dict[str, Any]) -> None:
        for session in self.sessions:
            if not session.private or not session.logged_in:
                continue
            for arg in session.subscriptions:
                if arg["channel"] != channel:
                    continue
                if channel in ("orders", "positions"):
                    if arg["instType"] not in ("ANY", data["instType"]) or arg.get("instId") not in (
                        None,
                        data["instId"],
                    ):
                        continue
                    payload = {"arg": self._arg(arg), "data": [data]}
                    if channel == "positions":
                        payload["eventType"] = "event_update"
                else:
                    payload = {
                        "arg": self._arg(arg),
                        "eventType": "event_update",
                        "data": [self._account_for(arg, data)],
                    }
                self._push_private(session, _dumps(payload))

    def _push_private(self, session: _Session, text: str) -> None:
        """Enqueue a push through the duplicate / reorder faults."""
        faults = self.faults
        if faults.push_reorder_rate and session.held is None and self._rng.random() < faults.push_reorder_rate:
            session.held = text  # goes out after the next push (or after a short wait if none comes)
            session.held_timer = asyncio.get_running_loop().call_later(REORDER_FLUSH_S, self._flush_held, session)
            return
        self._send(session, text)
        if faults.push_duplicate_rate and self._rng.random() < faults.push_duplicate_rate:
            self._send(session, text)
        self._flush_held(session)

    def _flush_held(self, session: _Session) -> None:
        if session.held is not None:
            self._send(session, session.held)
            session.held = None
        if session.held_timer is not None:
            session.held_timer.cancel()
            session.held_timer = None

    # --- public pushes --------------------------------------------------------------------------------------

    def push_public_all(self) -> None:
        for session in self.sessions:
            if not session.private and session.subscriptions:
                self.push_public(session)

    def push_public(self, session: _Session) -> None:
        now_ms = int(self._clock() * 1000)
        for arg in session.subscriptions:
            inst_id = str(arg["instId"])
            if arg["channel"] == "tickers":
                ticker = self.exchange.ticker(inst_id, now_ms)
                fingerprint = "|".join(
                    (ticker["last"], ticker["bidPx"], ticker["askPx"], ticker["bidSz"], ticker["askSz"])
                )
                if session.tickers.get(inst_id) != fingerprint:
                    session.tickers[inst_id] = fingerprint
                    self._send(session, {"arg": arg, "data": [ticker]})
            elif arg["channel"] == "books":
                self._push_book(session, arg, inst_id, now_ms)

    def _push_book(self, session: _Session, arg: dict[str, Any], inst_id: str, now_ms: int) -> None:
        try:
            asks, bids = self.exchange.book_levels(inst_id, BOOK_DEPTH)
        except SimError:
            return
        state = session.books.get(inst_id)
        current_asks = {row[0]: row for row in asks}
        current_bids = {row[0]: row for row in bids}
        if state is None:
            seq_id = 1
            session.books[inst_id] = _BookState(current_bids, current_asks, seq_id)
            data = {
                "asks": asks,
                "bids": bids,
                "ts": str(now_ms),
                "checksum": book_checksum(bids, asks),
                "prevSeqId": -1,
                "seqId": seq_id,
            }
            self._send(session, {"arg": arg, "action": "snapshot", "data": [data]})
            return

        def changes(previous: dict[str, list[str]], current: dict[str, list[str]], descending: bool) -> list[list[str]]:
            rows = [row for px, row in current.items() if previous.get(px) != row]
            rows += [[px, "0", "0", "0"] for px in previous if px not in current]
            return sorted(rows, key=lambda row: Decimal(row[0]), reverse=descending)

        ask_changes = changes(state.asks, current_asks, False)
        bid_changes = changes(state.bids, current_bids, True)
        if not ask_changes and not bid_changes:
            return
        prev_seq, state.seq_id = state.seq_id, state.seq_id + 1
        state.asks, state.bids = current_asks, current_bids
        data = {
            "asks": ask_changes,
            "bids": bid_changes,
            "ts": str(now_ms),
            "checksum": book_checksum(bids, asks),
            "prevSeqId": prev_seq,
            "seqId": state.seq_id,
        }
        self._send(session, {"arg": arg, "action": "update", "data": [data]})
