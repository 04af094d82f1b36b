"""How the OKX client puts bytes on the wire: `AiohttpTransport` (production) or any httpx transport (tests).

The client calls `send(method, url, headers, body, timeout) -> (status, body)`; nothing on the order path builds
an httpx object. `AiohttpTransport` implements it on aiohttp's HTTP/1.1 client; `HttpxTransportAdapter` runs the same
call through an httpx transport, so `httpx.MockTransport` (respx) drives the unit tests. Both raise httpx's
exception classes, which the client maps to OKX errors.

Why our own and not `httpx-aiohttp` (measured in benchmarks/okx_transport.py and okx_vs_ccxt.py):
- it reads each body at once and returns a plain `httpx.Response`, with no stream wrapper holding the aiohttp
  response (that chain of reference cycles cost a garbage collection every few dozen orders);
- it maps aiohttp's errors to the right httpx class: a refused connection is `ConnectError` (nothing was sent), a
  connection closed before the answer is `RemoteProtocolError` (the request may have been carried out) —
  httpx-aiohttp reports both as `ConnectTimeout`;
- it sends the URL exactly as built (`yarl.URL(..., encoded=True)`), so the signed request target is the one on the
  wire, byte for byte.
"""

from __future__ import annotations

import ssl
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "HttpxTransportAdapter", "OKXTransport", "Timeout"]

# (connect, read) seconds.
Timeout = tuple[float | None, float | None]


class OKXTransport(Protocol):
    async def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: Timeout
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class HttpxTransportAdapter:
    """Sends through an httpx transport (e.g. `httpx.MockTransport` in tests)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: Timeout
    ) -> tuple[int, bytes]:
        extensions = {"timeout": {"connect": timeout[0], "read": timeout[1], "write": timeout[1], "pool": timeout[0]}}
        request = httpx.Request(method, url, headers=headers, content=body, extensions=extensions)
        response = await self.transport.handle_async_request(request)
        return response.status_code, await response.aread()

    async def aclose(self) -> None:
        await self.transport.aclose()


class AiohttpTransport:
    def __init__(
        self,
        *,
        max_connections: int = 64,
        keepalive_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_s, ssl=self._ssl
            )
            # No cookies and no User-Agent; aiohttp decodes exactly the encodings it advertises (a corrupt body is
            # a ClientPayloadError, i.e. a ReadError below).
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    def _timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        cached = self._timeouts.get(timeout)
        if cached is None:
            cached = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=None, sock_connect=timeout[0], sock_read=timeout[1]
            )
        return cached

    async def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: Timeout
    ) -> tuple[int, bytes]:
        session = self._client()
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout(timeout),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:  # never connected: nothing was sent
            raise httpx.ConnectError(str(exc)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(f"server disconnected without a full answer: {exc}") from exc
        except aiohttp.ClientError as exc:  # payload, OS and protocol errors after the request may have gone out
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
