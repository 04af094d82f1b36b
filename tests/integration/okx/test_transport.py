"""`AiohttpTransport` against a real HTTP/1.1 server on 127.0.0.1, and `HttpxTransportAdapter` over a mock.

The server is a few lines of `asyncio.start_server` rather than `aiohttp.web`, so that it can misbehave exactly
(close before answering, cut a body short, never answer), count TCP connections, and record each request as it
arrived on the wire: the raw request line, the header lines in order, the body bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from app.services.okx.transport import AiohttpTransport, HttpxTransportAdapter

HOST = "127.0.0.1"
TIMEOUT = (1.0, 1.0)  # (connect, read): generous for loopback, still bounds a broken test
SHORT_READ = (1.0, 0.2)
OK_BODY = b'{"code":"0","msg":"","data":[{"ordId":"1","sCode":"0"}]}'
DOCUMENT = json.dumps({"code": "0", "data": [{"instId": f"BTC-USDT-{i}", "px": "26451.3"} for i in range(50)]}).encode()

# Content-Encoding -> compressor, for every encoding this interpreter can produce.
ENCODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}
with contextlib.suppress(ImportError):
    import brotli  # type: ignore[import-not-found]

    ENCODERS["br"] = brotli.compress
with contextlib.suppress(ImportError):
    from backports.zstd import compress as zstd_compress  # type: ignore[import-not-found]

    ENCODERS["zstd"] = zstd_compress


# --------------------------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class Received:
    request_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def target(self) -> bytes:
        return self.request_line.split(b" ")[1]

    def header(self, name: str) -> bytes | None:
        values = [v for k, v in self.headers if k.lower() == name.lower().encode()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


def response(body: bytes, status: str = "200 OK", extra: str = "", length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    return head.encode() + body


@dataclass
class Server:
    """HTTP/1.1 keep-alive server; the request path picks the behaviour (see `_answer`)."""

    port: int = 0
    connections: int = 0  # TCP connections accepted
    requests: list[Received] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)  # set when a client closes its connection
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while (received := await self._read_request(reader)) is not None:
                self.requests.append(received)
                if not await self._answer(received, reader, writer):
                    return
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Received | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.disconnected.set()  # EOF between requests: the client closed the connection
            return None
        request_line, *lines = head[:-4].split(b"\r\n")
        headers = [(name, value.strip()) for name, _, value in (line.partition(b":") for line in lines)]
        length = next((int(v) for k, v in headers if k.lower() == b"content-length"), 0)
        assert not any(k.lower() == b"transfer-encoding" for k, _ in headers), "bytes bodies are never chunked"
        return Received(request_line, headers, await reader.readexactly(length))

    async def _answer(self, received: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False to stop serving the connection (and close it)."""
        path = received.target.split(b"?")[0].decode()
        if path == "/drop":  # the request was read; close without a byte of answer
            return False
        if path == "/partial":  # promise 100 bytes, send 10, close
            writer.write(response(OK_BODY[:10], length=100))
            await writer.drain()
            return False
        if path == "/hang":  # never answer; wait for the client to give up and close
            await reader.read()
            self.disconnected.set()
            return False
        if path == "/cookie":
            writer.write(response(OK_BODY, extra="Set-Cookie: session=abc123; Path=/\r\n"))
        elif path.startswith("/encoded/"):  # /encoded/GZIP sends the header as written, the body in gzip
            coding = path.removeprefix("/encoded/")
            writer.write(response(ENCODERS[coding.lower()](DOCUMENT), extra=f"Content-Encoding: {coding}\r\n"))
        elif path == "/corrupt":  # claims gzip, is not
            writer.write(response(b"this is not gzip", extra="Content-Encoding: gzip\r\n"))
        elif path == "/status/503":
            writer.write(response(b"upstream unavailable", status="503 Service Unavailable"))
        else:
            writer.write(response(OK_BODY))
        await writer.drain()
        return True

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listener = await asyncio.start_server(state.handle, HOST, 0)
    state.port = listener.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        listener.close()
        await state.stop()
        await listener.wait_closed()


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    try:
        yield t
    finally:
        await t.aclose()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        yield s.getsockname()[1]


# --------------------------------------------------------------------------------------------- round trips


async def test_post_round_trip(server: Server, transport: AiohttpTransport) -> None:
    body = b'{"instId":"BTC-USDT","side":"buy","sz":"0.01"}'
    headers = {
        "Content-Type": "application/json",
        "OK-ACCESS-KEY": "key",
        "OK-ACCESS-SIGN": "c2lnbmF0dXJlPT0=",
        "OK-ACCESS-TIMESTAMP": "2024-01-01T00:00:00.000Z",
        "expTime": "1704067205000",
    }

    status, content = await transport.send("POST", f"{server.url}/api/v5/trade/order", headers, body, TIMEOUT)

    assert (status, content) == (200, OK_BODY)
    [received] = server.requests
    assert received.request_line == b"POST /api/v5/trade/order HTTP/1.1"
    assert received.body == body
    assert received.header("Content-Length") == str(len(body)).encode()
    for name, value in headers.items():
        assert received.header(name) == value.encode(), name


async def test_non_2xx_is_returned_not_raised(server: Server, transport: AiohttpTransport) -> None:
    assert await transport.send("GET", f"{server.url}/status/503", {}, None, TIMEOUT) == (503, b"upstream unavailable")


async def test_url_is_sent_byte_for_byte(server: Server, transport: AiohttpTransport) -> None:
    """The signed request target must be the one on the wire: no re-quoting, no unquoting, no reordering."""
    targets = [
        "/api/v5/account/balance?ccy=BTC,USDT&a=x%20y",
        "/api/v5/x?instId=A%2FB&q=a%3Db%26c&t=~!$'()*;:@&p=%25&plus=%2B",
        "/api/v5/p%41th?a=%7E%21&z=%3a",  # yarl would normalise these to /api/v5/pAth?a=~!&z=:
    ]
    for target in targets:
        await transport.send("GET", server.url + target, {}, None, TIMEOUT)

    assert [r.target.decode() for r in server.requests] == targets


async def test_no_user_agent_and_no_cookies(server: Server, transport: AiohttpTransport) -> None:
    await transport.send("GET", f"{server.url}/cookie", {}, None, TIMEOUT)
    await transport.send("GET", f"{server.url}/api/v5/public/time", {}, None, TIMEOUT)

    assert all(r.header("User-Agent") is None for r in server.requests)
    assert server.requests[1].header("Cookie") is None  # the Set-Cookie of the first answer was not kept


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_answer_is_returned_decoded(server: Server, transport: AiohttpTransport, coding: str) -> None:
    assert await transport.send("GET", f"{server.url}/encoded/{coding}", {}, None, TIMEOUT) == (200, DOCUMENT)


async def test_content_coding_is_case_insensitive(server: Server, transport: AiohttpTransport) -> None:
    assert await transport.send("GET", f"{server.url}/encoded/GZIP", {}, None, TIMEOUT) == (200, DOCUMENT)


async def test_only_advertises_encodings_it_decodes(server: Server, transport: AiohttpTransport) -> None:
    """aiohttp picks Accept-Encoding from the codecs installed (br with brotli, zstd with backports.zstd or on
    Python 3.14); whatever it advertises, an answer in that coding must come back decoded."""
    await transport.send("GET", f"{server.url}/api/v5/public/time", {}, None, TIMEOUT)
    advertised = (server.requests[0].header("Accept-Encoding") or b"").decode()
    codings = [c.split(";")[0].strip() for c in advertised.split(",") if c.strip()]

    for coding in codings:
        assert coding in ENCODERS, f"advertises {coding!r}, which this test cannot produce"
        assert await transport.send("GET", f"{server.url}/encoded/{coding}", {}, None, TIMEOUT) == (200, DOCUMENT)


# --------------------------------------------------------------------------------------------- failure mapping


async def test_refused_connection_is_connect_error(refused_port: int, transport: AiohttpTransport) -> None:
    """Nothing was sent: the client may say "not placed"."""
    with pytest.raises(httpx.ConnectError):
        await transport.send("POST", f"http://{HOST}:{refused_port}/api/v5/trade/order", {}, b"{}", TIMEOUT)


@pytest.mark.parametrize("reused", [False, True], ids=["fresh-connection", "reused-connection"])
async def test_closed_before_answer_is_remote_protocol_error(
    server: Server, transport: AiohttpTransport, reused: bool
) -> None:
    """The request went out and may have been carried out: an error that is not ConnectError, and no re-send."""
    if reused:
        await transport.send("GET", f"{server.url}/api/v5/public/time", {}, None, TIMEOUT)

    with pytest.raises(httpx.RemoteProtocolError):
        await transport.send("POST", f"{server.url}/drop", {}, b'{"clOrdId":"x"}', TIMEOUT)

    assert [r.target for r in server.requests if r.target == b"/drop"] == [b"/drop"]  # a POST is never re-sent
    assert server.connections == 1


async def test_body_cut_short_is_read_error(server: Server, transport: AiohttpTransport) -> None:
    with pytest.raises(httpx.ReadError):
        await transport.send("POST", f"{server.url}/partial", {}, b"{}", TIMEOUT)


async def test_undecodable_body_is_a_transport_error(server: Server, transport: AiohttpTransport) -> None:
    """The answer arrived but cannot be read: for a placement that is "outcome unknown", like a body cut short."""
    with pytest.raises(httpx.TransportError):
        await transport.send("POST", f"{server.url}/corrupt", {}, b"{}", TIMEOUT)


async def test_no_answer_within_read_timeout_is_read_timeout(server: Server, transport: AiohttpTransport) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(httpx.ReadTimeout):
        await transport.send("POST", f"{server.url}/hang", {}, b"{}", SHORT_READ)

    assert 0.15 < loop.time() - started < 0.9
    await asyncio.wait_for(server.disconnected.wait(), 1.0)  # the timed-out connection is closed, not pooled
    assert await transport.send("GET", f"{server.url}/api/v5/public/time", {}, None, TIMEOUT) == (200, OK_BODY)
    assert server.connections == 2


async def test_failures_do_not_poison_the_pool(server: Server, transport: AiohttpTransport) -> None:
    for path, error in [("/drop", httpx.RemoteProtocolError), ("/partial", httpx.ReadError)]:
        with pytest.raises(error):
            await transport.send("POST", server.url + path, {}, b"{}", TIMEOUT)
        assert await transport.send("POST", f"{server.url}/ok", {}, b"{}", TIMEOUT) == (200, OK_BODY)


# --------------------------------------------------------------------------------------------- connections


async def test_sequential_requests_share_one_connection(server: Server, transport: AiohttpTransport) -> None:
    for _ in range(3):
        assert await transport.send("POST", f"{server.url}/ok", {}, b"{}", TIMEOUT) == (200, OK_BODY)

    assert len(server.requests) == 3
    assert server.connections == 1


async def test_aclose_closes_connections_and_send_reopens(server: Server) -> None:
    transport = AiohttpTransport()
    try:
        await transport.aclose()  # before any request: nothing to close
        await transport.send("GET", f"{server.url}/a", {}, None, TIMEOUT)

        await transport.aclose()
        await asyncio.wait_for(server.disconnected.wait(), 1.0)  # the pooled connection was closed
        await transport.aclose()  # idempotent

        # After aclose the transport is reusable: the next send opens a new session and connection.
        assert await transport.send("GET", f"{server.url}/b", {}, None, TIMEOUT) == (200, OK_BODY)
        assert server.connections == 2
    finally:
        await transport.aclose()


# --------------------------------------------------------------------------------------------- httpx adapter


async def test_httpx_adapter_over_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b'{"code":"0"}')

    adapter = HttpxTransportAdapter(httpx.MockTransport(handler))
    try:
        status, content = await adapter.send(
            "POST", "https://okx.test/api/v5/x?ccy=BTC,USDT&a=x%20y", {"OK-ACCESS-KEY": "k"}, b'{"a":1}', (2.0, 7.0)
        )
    finally:
        await adapter.aclose()

    assert (status, content) == (201, b'{"code":"0"}')
    [request] = seen
    assert request.method == "POST"
    assert request.url.raw_path == b"/api/v5/x?ccy=BTC,USDT&a=x%20y"
    assert request.headers["OK-ACCESS-KEY"] == "k"
    assert request.content == b'{"a":1}'
    assert request.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 2.0}
