"""`OKXClient`: signed OKX v5 REST over one pooled HTTP client, with rate limits, retries and clock sync.

The rules that keep money safe live here, once:
- Idempotent calls (GETs, cancels) are retried with exponential backoff and jitter on network errors, HTTP 5xx
  and 50001/50013/50026.
- Placing or amending is never re-sent after an ambiguous failure (lost response, timeout, 5xx, 50004): the
  caller gets `OKXOutcomeUnknown` and reconciles by clOrdId. Every place/amend carries OKX's `expTime` header,
  so OKX refuses it rather than executing it late.
- 50011 (rate limited) and 50102 (timestamp expired, after a clock resync) mean "not processed" and are retried
  for every call; a place/amend only while its `expTime` has not passed, and always with the same `expTime`.

Transport: requests are httpx `Request`s sent straight to an httpx transport — by default our `AiohttpTransport`
(aiohttp's HTTP/1.1 client) — without `httpx.AsyncClient`'s per-request machinery (cookie extraction, URL merging,
redirect handling), which measured more than ccxt's whole order path (benchmarks/okx_vs_ccxt.py). Tests pass
`httpx.MockTransport` (respx) instead. The retry machinery is only built after a first failure.

Orders over the WebSocket (`send_orders_over`): while a private WebSocket is connected and logged in, place,
cancel and amend go as its trading ops instead of REST requests — no HTTP request and no signature per order; OKX
counts them against the same rate limits and answers with the same items. Everything above applies unchanged
(rate limiter, expTime, retries, outcome unknown on a lost answer); only the carrier differs. While it is down,
they go by REST.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from app.services.okx.auth import OKXCredentials, iso_timestamp
from app.services.okx.constants import LIVE_REST_URL, WS_OP_OF_PATH, Path
from app.services.okx.errors import (
    OKXAuthError,
    OKXError,
    OKXOutcomeUnknown,
    OKXRateLimitError,
    OKXRateLimitWaitExceeded,
    OKXRequestExpired,
    OKXServiceUnavailable,
    OKXTimestampExpired,
    OKXTransportError,
    error_for_code,
)
from app.services.okx.metrics import REQUEST_ERRORS, REQUEST_SECONDS
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.transport import AiohttpTransport, HttpxTransportAdapter, OKXTransport
from app.services.okx.websocket import OKXWebSocket, WSNoAnswer, WSNotReady

__all__ = ["OKXClient", "RetryPolicy", "encode_query", "first", "parse", "to_okx_json"]

log = logging.getLogger(__name__)

# Codes after which a place/amend may or may not have been carried out (50004 endpoint timeout, 5000x/50026 busy
# or system error, 51054 request timed out, 51149 order timed out), as a top-level code or an item's sCode.
OUTCOME_UNKNOWN_CODES = frozenset({"50004", "50001", "50013", "50026", "51054", "51149"})
DEFAULT_EXP_TIME_WINDOW_S = 5.0
TIME_SYNC_INTERVAL_S = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for requests that are safe to repeat."""

    attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0


def _okx_value(value: Any) -> Any:
    """OKX wants numbers as strings; Decimal in fixed-point (never `1E-8`)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise TypeError(f"floats are not sent to OKX: {value!r}")
    if isinstance(value, dict):
        return {key: _okx_value(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_okx_value(item) for item in value]
    return value


def to_okx_json(body: Any) -> str:
    """Compact JSON with OKX's string numbers; None fields are left out."""
    return json.dumps(_okx_value(body), separators=(",", ":"))


# Characters left unescaped in query values: exactly those httpx and aiohttp's yarl would unescape on the way to the
# wire (`%2C` goes out as `,`), so the signed query is byte for byte the one sent.
QUERY_SAFE = ",:/@!$'()*;~?"


def encode_query(params: dict[str, Any] | None) -> str:
    """Query string as sent and signed; None and "" are treated as absent, as OKX does."""
    if not params:
        return ""
    pairs = [(key, _okx_value(value)) for key, value in params.items() if value is not None and value != ""]
    return urlencode(pairs, quote_via=quote, safe=QUERY_SAFE)


def _no_answer(
    path: str, detail: str, safe_to_repeat: bool, client_order_id: str | None, exp_time_ms: int | None
) -> OKXError:
    """A request sent (or maybe sent) without an answer, by either carrier: safe to repeat, a transport error;
    otherwise (a place or amend) the exchange may have carried it out, so its outcome is unknown."""
    REQUEST_ERRORS.labels(path, "transport").inc()
    if safe_to_repeat:
        return OKXTransportError(detail)
    return OKXOutcomeUnknown(detail, client_order_id=client_order_id, exp_time_ms=exp_time_ms)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], item: Any, *, what: str) -> M:
    """One typed result; a malformed item is an `OKXTransportError`, never a stray ValidationError."""
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise OKXTransportError(f"OKX answered a malformed {what} ({exc.error_count()} problem(s))") from exc


def first(data: list[Any], *, what: str) -> Any:
    """The single item of an answer that must have one."""
    if not data or not isinstance(data[0], dict):
        raise OKXTransportError(f"OKX answered without a {what}")
    return data[0]


class OKXClient:
    """One OKX account (or the simulator) over one `httpx.AsyncClient`; close it with `aclose()` or `async with`."""

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | SecretStr | None = None,
        passphrase: str | SecretStr | None = None,
        base_url: str = LIVE_REST_URL,
        demo: bool = False,
        *,
        timeout_s: float = 10.0,
        transport: OKXTransport | httpx.AsyncBaseTransport | None = None,
        rate_limiter: RateLimiter | None = None,
        retry_policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
        exp_time_window_s: float = DEFAULT_EXP_TIME_WINDOW_S,
        time_sync_interval_s: float = TIME_SYNC_INTERVAL_S,
        max_rate_wait_s: float = 2.0,
    ) -> None:
        from app.services.okx.account import OKXAccount
        from app.services.okx.market import OKXMarket, OKXPublic
        from app.services.okx.trade import OKXTrade

        self.credentials = (
            OKXCredentials.of(api_key, secret_key, passphrase)
            if api_key and secret_key is not None and passphrase is not None
            else None
        )
        self.base_url = base_url.rstrip("/")
        self.demo = demo
        self.retry_policy = retry_policy
        self.exp_time_window_s = exp_time_window_s
        self.time_sync_interval_s = time_sync_interval_s
        self._clock = clock
        self._limiter = rate_limiter or RateLimiter()
        # Waiting for the rate limit is bounded: past this, the request fails at once (50011, nothing sent), so an
        # overloaded caller learns it is over the limit instead of queuing without end.
        self.max_rate_wait_s = max_rate_wait_s
        self._offset_s = 0.0
        self._synced_at: float | None = None
        self._sync_lock = asyncio.Lock()
        if isinstance(transport, httpx.AsyncBaseTransport):
            transport = HttpxTransportAdapter(transport)
        self._transport: OKXTransport = transport or AiohttpTransport()
        self._timeout = (min(timeout_s, 5.0), timeout_s)
        self._closed = False
        self._order_websocket: OKXWebSocket | None = None
        self.trade = OKXTrade(self)
        self.account = OKXAccount(self)
        self.market = OKXMarket(self)
        self.public = OKXPublic(self)

    def __repr__(self) -> str:
        return f"OKXClient(base_url={self.base_url!r}, demo={self.demo}, credentials={self.credentials!r})"

    async def __aenter__(self) -> OKXClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    def send_orders_over(self, websocket: OKXWebSocket | None) -> None:
        """Place, cancel and amend over this private WebSocket while it is ready (None: always by REST)."""
        self._order_websocket = websocket

    # --- time -------------------------------------------------------------------------------------------------

    @property
    def clock_offset_s(self) -> float:
        """OKX's clock minus ours, as last measured."""
        return self._offset_s

    def now_s(self) -> float:
        """Current time on OKX's clock (ours corrected by the measured offset)."""
        return self._clock() + self._offset_s

    def now_ms(self) -> int:
        return int(self.now_s() * 1000)

    def new_exp_time_ms(self, window_s: float | None = None) -> int:
        """The `expTime` for a place/amend sent now: OKX refuses the request once this moment has passed."""
        return int((self.now_s() + (self.exp_time_window_s if window_s is None else window_s)) * 1000)

    async def sync_time(self) -> float:
        """Measure the offset to OKX's clock from /public/time (half the round trip corrects for latency)."""
        started = self._clock()
        # One attempt: a retry's backoff inside the measured interval would skew the offset by seconds.
        data = await self._send_once(
            "GET",
            Path.TIME,
            params=None,
            body=None,
            auth=False,
            safe_to_repeat=True,
            exp_time_ms=None,
            client_order_id=None,
        )
        finished = self._clock()
        try:
            server_s = int(first(data, what="server time")["ts"]) / 1000
        except (KeyError, ValueError, TypeError) as exc:
            raise OKXTransportError("OKX answered a malformed server time") from exc
        self._offset_s = server_s - (started + finished) / 2
        self._synced_at = finished
        return self._offset_s

    async def ensure_time_synced(self) -> None:
        """Measure the clock offset if it is unknown or older than the sync interval (call before computing an
        expTime, so that it is on OKX's clock)."""
        if self._synced_at is not None and self._clock() - self._synced_at < self.time_sync_interval_s:
            return
        async with self._sync_lock:
            if self._synced_at is not None and self._clock() - self._synced_at < self.time_sync_interval_s:
                return
            try:
                await self.sync_time()
            except OKXError as exc:
                # Sign with the last known offset; a real skew shows up as 50102, which resyncs and retries.
                log.warning("OKX time sync failed, keeping offset %.3f s: %s", self._offset_s, exc)
                self._synced_at = self._clock()

    # --- requests ---------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | list[dict[str, Any]] | None = None,
        auth: bool = True,
        idempotent: bool | None = None,
        exp_time_ms: int | None = None,
        client_order_id: str | None = None,
    ) -> list[Any]:
        """Send one OKX request and return its `data` list.

        `code` "1"/"2" answers (batch items with their own sCode) are returned for the caller to read per item;
        any other non-zero code raises the matching `OKXAPIError`. `idempotent` defaults to True for GET.
        """
        method = method.upper()
        safe_to_repeat = method == "GET" if idempotent is None else idempotent

        def should_retry(exc: BaseException) -> bool:
            # A place/amend whose expTime passes while it waits is stopped in _send_once, before it is sent.
            if isinstance(exc, OKXRateLimitWaitExceeded):
                return False  # the wait is already over its bound: fail fast
            if isinstance(exc, OKXRateLimitError | OKXTimestampExpired):
                return True  # refused before processing: repeating is safe
            return safe_to_repeat and isinstance(exc, OKXTransportError | OKXServiceUnavailable)

        send = {
            "params": params,
            "body": body,
            "auth": auth,
            "safe_to_repeat": safe_to_repeat,
            "exp_time_ms": exp_time_ms,
            "client_order_id": client_order_id,
        }
        try:
            return await self._send_once(method, path, **send)
        except OKXError as exc:
            if self.retry_policy.attempts <= 1 or not should_retry(exc):
                raise
            first_failure = exc
        # Only now is the retry policy built: the success path pays nothing for it.
        policy = self.retry_policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(
                multiplier=policy.base_delay_s, max=policy.max_delay_s, jitter=policy.base_delay_s
            ),
            retry=retry_if_exception(should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number == 1:
                    raise first_failure  # the attempt already made: tenacity schedules the backoff after it
                return await self._send_once(method, path, **send)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        body: dict[str, Any] | list[dict[str, Any]] | None,
        auth: bool,
        safe_to_repeat: bool,
        exp_time_ms: int | None,
        client_order_id: str | None,
    ) -> list[Any]:
        if self._closed:
            raise OKXTransportError(f"{method} {path}: the client is closed")
        items: Iterable[dict[str, Any]] = body if isinstance(body, list) else [body or params or {}]
        try:
            async with asyncio.timeout(self.max_rate_wait_s):
                await self._limiter.acquire(method, path, items)
        except TimeoutError:
            raise OKXRateLimitWaitExceeded(
                f"{method} {path}: OKX's rate limit is used up for at least {self.max_rate_wait_s:g} s; nothing sent",
                code="50011",
            ) from None

        self._refuse_if_expired(method, path, exp_time_ms)
        websocket = self._order_websocket
        if websocket is not None and method == "POST" and path in WS_OP_OF_PATH and websocket.ready:
            answer = await self._send_over_websocket(
                websocket, path, body, safe_to_repeat, exp_time_ms, client_order_id
            )
            if answer is not None:
                return answer
        query = encode_query(params)
        content = to_okx_json(body) if body is not None else ""  # built here: the WebSocket op above needs none
        target = path + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            if self.credentials is None:
                raise OKXAuthError(f"{path} needs OKX API credentials, and this client has none", code=None)
            await self.ensure_time_synced()
            timestamp = iso_timestamp(self.now_s())
            # `target` is byte for byte what goes on the wire (see QUERY_SAFE and the transport).
            headers.update(self.credentials.rest_headers(timestamp, method, target, content))
        if self.demo:
            headers["x-simulated-trading"] = "1"
        if exp_time_ms is not None:
            self._refuse_if_expired(method, path, exp_time_ms)  # the clock sync above may have taken a while
            headers["expTime"] = str(exp_time_ms)
        started = time.perf_counter()
        try:
            status, raw = await self._transport.send(
                method, self.base_url + target, headers, content.encode() if content else None, self._timeout
            )
        except httpx.TransportError as exc:
            detail = f"{method} {path}: no answer ({type(exc).__name__}: {exc})"
            raise _no_answer(path, detail, safe_to_repeat, client_order_id, exp_time_ms) from exc
        finally:
            REQUEST_SECONDS.labels(method, path).observe(time.perf_counter() - started)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("OKX %s %s -> %s", method, path, status)
        try:
            return self._read(status, raw, method, path, safe_to_repeat, exp_time_ms, client_order_id)
        except OKXError as exc:
            REQUEST_ERRORS.labels(path, exc.code or f"http_{status}").inc()
            raise

    def _refuse_if_expired(self, method: str, path: str, exp_time_ms: int | None) -> None:
        if exp_time_ms is not None and self.now_ms() >= exp_time_ms:
            # Waiting (rate limit, backoff, clock sync) used up its validity: OKX would refuse it; it is not sent.
            raise OKXRequestExpired(f"{method} {path}: expTime passed before it could be sent", code="50037")

    async def _send_over_websocket(
        self,
        websocket: OKXWebSocket,
        path: str,
        body: dict[str, Any] | list[dict[str, Any]] | None,
        safe_to_repeat: bool,
        exp_time_ms: int | None,
        client_order_id: str | None,
    ) -> list[Any] | None:
        """A trade call as the WebSocket op it stands for; None if the WebSocket was not ready (nothing sent)."""
        args = _okx_value(body if isinstance(body, list) else [body or {}])
        started = time.perf_counter()
        try:
            payload = await websocket.call(
                WS_OP_OF_PATH[path], args, timeout_s=self._timeout[1], exp_time_ms=exp_time_ms
            )
        except WSNotReady:
            return None
        except WSNoAnswer as exc:
            detail = f"WebSocket {path}: no answer ({exc})"
            raise _no_answer(path, detail, safe_to_repeat, client_order_id, exp_time_ms) from exc
        finally:
            REQUEST_SECONDS.labels("WS", path).observe(time.perf_counter() - started)
        try:
            return self._interpret(200, payload, "WebSocket", path, safe_to_repeat, exp_time_ms, client_order_id)
        except OKXError as exc:
            REQUEST_ERRORS.labels(path, exc.code or "ws").inc()
            raise

    def _read(
        self,
        status: int,
        raw: bytes,
        method: str,
        path: str,
        safe_to_repeat: bool,
        exp_time_ms: int | None,
        client_order_id: str | None,
    ) -> list[Any]:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        return self._interpret(status, payload, method, path, safe_to_repeat, exp_time_ms, client_order_id)

    def _interpret(
        self,
        status: int,
        payload: Any,
        method: str,
        path: str,
        safe_to_repeat: bool,
        exp_time_ms: int | None,
        client_order_id: str | None,
    ) -> list[Any]:
        """OKX's envelope (`code`, `msg`, `data`), as REST or a WebSocket op answered it, to data or an error."""
        if not isinstance(payload, dict) or "code" not in payload or not isinstance(payload.get("data") or [], list):
            detail = f"{method} {path}: HTTP {status} without a readable OKX envelope"
            if status == 429:
                raise OKXRateLimitError(detail, code="50011", http_status=status)
            if not safe_to_repeat:  # whatever the exchange did, this answer does not say: reconcile
                raise OKXOutcomeUnknown(
                    detail, http_status=status, client_order_id=client_order_id, exp_time_ms=exp_time_ms
                )
            if status >= 500:
                raise OKXServiceUnavailable(detail, http_status=status)
            raise OKXTransportError(detail, http_status=status)

        code = str(payload["code"])
        data = payload.get("data") or []
        if code == "0":
            return data
        if code in ("1", "2") and data and all(isinstance(item, dict) and "sCode" in item for item in data):
            return data  # per-item results: the caller reads each sCode
        message = str(payload.get("msg") or "")
        if not safe_to_repeat and (code in OUTCOME_UNKNOWN_CODES or status >= 500):
            raise OKXOutcomeUnknown(
                f"{method} {path}: {message or 'outcome unknown'}",
                code=code,
                http_status=status,
                client_order_id=client_order_id,
                exp_time_ms=exp_time_ms,
            )
        error = error_for_code(code, message, http_status=status)
        if isinstance(error, OKXTimestampExpired):
            self._synced_at = None  # resync before the retry
        raise error
