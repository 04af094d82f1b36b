"""Per-request cost of the OKX client's transport against the alternatives, on loopback.

Every order the service places goes through one HTTP client, so its per-request overhead is paid on the
critical path. This script compares, in the same run and interleaved round by round:

* ``httpx-default``  httpx.AsyncClient with its default transport (httpcore/h11),
* ``okx-transport``  our ``AiohttpTransport().send(...)`` (app/services/okx/transport.py), called exactly as
  ``OKXClient`` calls it: full URL string, headers dict, body bytes, (connect, read) timeout -> (status, bytes),
* ``aiohttp``        a raw aiohttp.ClientSession (the reference floor).

``httpx-aiohttp`` (httpx.AsyncClient over httpx_aiohttp.AiohttpTransport) was measured here earlier (README:
365 µs p50 and 4,220 req/s at 32 in flight, against 758 µs / 790 req/s for httpx-default and 180 µs / 13,041 req/s
for raw aiohttp) and then removed from the project: it reported a refused connection (nothing sent) and a
connection dropped after the request was sent (the order may exist) as the same ``httpx.ConnectTimeout``, and the
stream wrappers it put around each aiohttp response formed reference cycles that cost a garbage collection every few
dozen orders. ``okx-transport`` replaced it.

Each request is a realistic signed OKX order: a ~200-byte compact JSON body, a base64 HMAC-SHA256 signature
over timestamp + method + path + body, the OK-ACCESS-* headers, and the JSON response parsed; serialisation,
signing and parsing are inside the timed region for every client alike. The server is a minimal asyncio
HTTP/1.1 keep-alive server in a separate process (bound to 127.0.0.1 on a free port), so it shares neither
the event loop nor the GIL with the clients.

Scenarios: sequential (one request at a time: p50/p90/p99 latency) and concurrent (32 in flight: throughput).
Both run with each client's pool holding the 32 connections the warm-up opened, i.e. the state after a burst
(httpcore scans its whole pool per request, so its sequential latency is lower with a single pooled connection).
Rounds are interleaved with a rotating start (A B C, B C A, C A B, ...), so machine noise and position effects
hit every client equally; the table reports the median over rounds.

It then checks which exception ``okx-transport`` raises when things go wrong, because a lost response to an order
placement must be treated as "outcome unknown", never as "not sent": a refused connection must be
``httpx.ConnectError``; the server closing before answering ``httpx.RemoteProtocolError``; a body cut short
``httpx.ReadError``; no answer within the read timeout (0.2 s here) ``httpx.ReadTimeout``. A mismatch is printed
and makes the exit status 1.

Run: ``.venv/bin/python benchmarks/okx_transport.py [--requests N] [--rounds R] [--loop uvloop|asyncio]``
(defaults: about 35 s on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import json
import multiprocessing as mp
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, cast

import aiohttp
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.services.okx.transport import AiohttpTransport  # noqa: E402

HOST = "127.0.0.1"
ORDER_PATH = "/api/v5/trade/order"
TIME_PATH = "/api/v5/public/time"
DROP_PATH = "/drop"  # reads the request, closes the socket without answering
DROP_PARTIAL_PATH = "/drop-partial"  # sends the status line, headers and half the body, then closes
HANG_PATH = "/hang"  # reads the request and never answers (the client gives up and closes)
HANG_READ_TIMEOUT_S = 0.2
CONCURRENCY = 32
TIMEOUT_S = 10.0
# Longer than a whole run, so no pool expires idle connections between rounds (reconnects would be noise).
KEEPALIVE_S = 120.0
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_S)

ORDER_RESPONSE = (
    b'{"code":"0","msg":"","data":[{"clOrdId":"b15","ordId":"312269865356374016","tag":"","ts":"1695190491421",'
    b'"sCode":"0","sMsg":""}],"inTime":"1695190491421339","outTime":"1695190491423240"}'
)
TIME_RESPONSE = b'{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}'

# Fake credentials: the signature is computed for real (its cost is what matters) but never checked.
API_KEY = "4f7a1c2e-9b3d-4e5f-8a6b-7c8d9e0f1a2b"
API_SECRET = b"3B7C1D9E5F2A4B6C8D0E1F3A5B7C9D1E"
PASSPHRASE = "bench-passphrase"


# --------------------------------------------------------------------------------------------- server process


def _http_response(body: bytes, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


_ROUTES: dict[tuple[bytes, bytes], bytes] = {
    (b"POST", ORDER_PATH.encode()): _http_response(ORDER_RESPONSE),
    (b"GET", TIME_PATH.encode()): _http_response(TIME_RESPONSE),
}
_NOT_FOUND = _http_response(b'{"code":"404","msg":"not found","data":[]}', "404 Not Found")
_MAX_HEAD = 64 * 1024


class _KeepAliveHTTP(asyncio.Protocol):
    """Minimal HTTP/1.1 server: Content-Length bodies only, keep-alive, canned responses."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transport is not an asyncio subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        self._buf += data
        # Each pass consumes one complete request or stops, so the loop is bounded by the buffer length.
        for _ in range(len(self._buf)):
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    transport.close()
                return
            head = bytes(self._buf[:end]).split(b"\r\n")
            method, target, _version = head[0].split(b" ", 2)
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value.strip())
                elif lname == b"transfer-encoding":  # the clients under test never chunk a bytes body
                    transport.close()
                    return
            total = end + 4 + length
            if len(self._buf) < total:
                return
            del self._buf[:total]
            if target == DROP_PATH.encode():
                transport.close()
                return
            if target == DROP_PARTIAL_PATH.encode():
                full = _http_response(ORDER_RESPONSE)
                transport.write(full[: len(full) - len(ORDER_RESPONSE) // 2])
                transport.close()
                return
            if target == HANG_PATH.encode():
                self._buf.clear()
                return
            transport.write(_ROUTES.get((method, target), _NOT_FOUND))
            if not self._buf:
                return


def _serve(conn: Connection, use_uvloop: bool) -> None:
    """Server process entry point: bind 127.0.0.1:0, report the port, serve until terminated."""
    if use_uvloop:
        import uvloop

        uvloop.install()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_KeepAliveHTTP, host=HOST, port=0, backlog=1024)
        conn.send(server.sockets[0].getsockname()[1])
        conn.close()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def server_process(use_uvloop: bool) -> Iterator[int]:
    """Run the server in its own process; yield its port; always terminate it."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_serve, args=(child, use_uvloop), name="okx-bench-server", daemon=True)
    proc.start()
    try:
        child.close()
        if not parent.poll(15.0):
            raise RuntimeError("benchmark server did not report its port within 15 s")
        port = parent.recv()
        assert isinstance(port, int)
        yield port
    finally:
        parent.close()
        proc.terminate()
        proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)


# --------------------------------------------------------------------------------------------- signed requests


@dataclass(frozen=True, slots=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]


def _okx_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign_order(seq: int) -> SignedRequest:
    """Serialise and sign one order exactly as the OKX REST client would."""
    order = {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "cross",
        "clOrdId": f"b{seq:020d}",
        "side": "buy",
        "posSide": "long",
        "ordType": "limit",
        "px": "26451.3",
        "sz": "12",
        "tag": "exec-svc",
        "reduceOnly": False,
        "ccy": "USDT",
        "stpMode": "cancel_maker",
    }
    body = json.dumps(order, separators=(",", ":")).encode()
    ts = _okx_timestamp()
    prehash = ts.encode() + b"POST" + ORDER_PATH.encode() + body
    sign = base64.b64encode(hmac.new(API_SECRET, prehash, hashlib.sha256).digest()).decode()
    headers = {
        "OK-ACCESS-KEY": API_KEY,
        "OK-ACCESS-SIGN": sign,
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": PASSPHRASE,
        "Content-Type": "application/json",
    }
    return SignedRequest(body, headers)


def _check(status: int, payload: Any) -> None:
    if status != 200 or payload["code"] != "0" or payload["data"][0]["sCode"] != "0":
        raise RuntimeError(f"unexpected response {status}: {payload!r}")


# --------------------------------------------------------------------------------------------- clients


class BenchClient(Protocol):
    name: str

    async def place_order(self, seq: int) -> None: ...

    async def post_raw(self, path: str) -> None: ...

    async def get_time(self) -> None: ...

    async def aclose(self) -> None: ...


class HttpxClient:
    def __init__(self, name: str, base_url: str, transport: httpx.AsyncBaseTransport | None) -> None:
        self.name = name
        # Same pool limits for every client (httpx's default keep-alive cap of 20 would churn connections at 32
        # in flight); trust_env=False so no proxy variable can reroute loopback traffic.
        self._client = httpx.AsyncClient(
            base_url=base_url, transport=transport, limits=POOL_LIMITS, timeout=TIMEOUT_S, trust_env=False
        )

    async def place_order(self, seq: int) -> None:
        req = sign_order(seq)
        resp = await self._client.post(ORDER_PATH, content=req.body, headers=req.headers)
        _check(resp.status_code, resp.json())

    async def post_raw(self, path: str) -> None:
        req = sign_order(0)
        resp = await self._client.post(path, content=req.body, headers=req.headers)
        resp.json()

    async def get_time(self) -> None:
        (await self._client.get(TIME_PATH)).json()

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpClient:
    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self._base_url = base_url
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        )

    async def place_order(self, seq: int) -> None:
        req = sign_order(seq)
        async with self._session.post(ORDER_PATH, data=req.body, headers=req.headers) as resp:
            _check(resp.status, json.loads(await resp.read()))

    async def post_raw(self, path: str) -> None:
        req = sign_order(0)
        async with self._session.post(path, data=req.body, headers=req.headers) as resp:
            json.loads(await resp.read())

    async def get_time(self) -> None:
        async with self._session.get(TIME_PATH) as resp:
            json.loads(await resp.read())

    async def aclose(self) -> None:
        await self._session.close()


class OkxTransportClient:
    """Our production transport, called the way OKXClient._send_once calls it."""

    def __init__(self, name: str, base_url: str, read_timeout_s: float = TIMEOUT_S) -> None:
        self.name = name
        self._base_url = base_url
        # Same pool size and keep-alive as the other clients.
        self._transport = AiohttpTransport(max_connections=100, keepalive_s=KEEPALIVE_S)
        self._timeout = (min(TIMEOUT_S, 5.0), read_timeout_s)  # (connect, read), as OKXClient derives it

    async def place_order(self, seq: int) -> None:
        req = sign_order(seq)
        status, raw = await self._transport.send(
            "POST", self._base_url + ORDER_PATH, req.headers, req.body, self._timeout
        )
        _check(status, json.loads(raw))

    async def post_raw(self, path: str) -> None:
        req = sign_order(0)
        _status, raw = await self._transport.send("POST", self._base_url + path, req.headers, req.body, self._timeout)
        json.loads(raw)

    async def get_time(self) -> None:
        _status, raw = await self._transport.send("GET", self._base_url + TIME_PATH, {}, None, self._timeout)
        json.loads(raw)

    async def aclose(self) -> None:
        await self._transport.aclose()


def make_clients(base_url: str) -> list[BenchClient]:
    return [
        HttpxClient("httpx-default", base_url, None),
        OkxTransportClient("okx-transport", base_url),
        AiohttpClient("aiohttp", base_url),
    ]


# --------------------------------------------------------------------------------------------- measurement


@dataclass(slots=True)
class Results:
    p50: list[float] = field(default_factory=list)
    p90: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)


async def run_sequential(client: BenchClient, n: int, seq0: int) -> np.ndarray:
    """Latency (µs) of n one-at-a-time orders."""
    samples = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        await client.place_order(seq0 + i)
        samples[i] = clock() - t0
    return samples / 1_000.0


async def run_concurrent(client: BenchClient, n: int, seq0: int, concurrency: int = CONCURRENCY) -> float:
    """Throughput (requests/s) of n orders kept `concurrency` in flight by a fixed pool of workers."""
    per_worker, extra = divmod(n, concurrency)

    async def worker(w: int) -> None:
        base = seq0 + w * (per_worker + 1)
        for i in range(per_worker + (1 if w < extra else 0)):
            await client.place_order(base + i)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return n / ((time.perf_counter_ns() - t0) / 1e9)


async def warm_up(client: BenchClient, n: int) -> None:
    await run_sequential(client, n, 0)
    await run_concurrent(client, max(n, 4 * CONCURRENCY), 0)  # opens the 32 pooled connections


async def benchmark(clients: list[BenchClient], n_seq: int, n_conc: int, rounds: int) -> dict[str, Results]:
    """Interleaved rounds; every client has its 32 pooled connections open throughout (state after a burst)."""
    results = {c.name: Results() for c in clients}
    for c in clients:
        await warm_up(c, 300)
    seq_counter = 1_000_000
    for r in range(rounds):
        order = clients[r % len(clients) :] + clients[: r % len(clients)]
        for c in order:
            res = results[c.name]
            gc.collect()
            lat = await run_sequential(c, n_seq, seq_counter)
            seq_counter += n_seq
            p50, p90, p99 = np.percentile(lat, [50, 90, 99])
            res.p50.append(float(p50))
            res.p90.append(float(p90))
            res.p99.append(float(p99))
            gc.collect()
            res.rps.append(await run_concurrent(c, n_conc, seq_counter))
            seq_counter += n_conc
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return results


def print_table(results: dict[str, Results]) -> None:
    med = {
        name: {
            "p50": statistics.median(r.p50),
            "p90": statistics.median(r.p90),
            "p99": statistics.median(r.p99),
            "rps": statistics.median(r.rps),
            "p50_lo": min(r.p50),
            "p50_hi": max(r.p50),
            "rps_lo": min(r.rps),
            "rps_hi": max(r.rps),
        }
        for name, r in results.items()
    }
    ref = med["aiohttp"]
    print()
    print(
        f"{'client':<14} {'p50 µs':>8} {'p90 µs':>8} {'p99 µs':>8} {'p50 range':>13} "
        f"{'req/s @32':>10} {'req/s range':>13} {'p50/aiohttp':>12} {'rps/aiohttp':>12}"
    )
    for name, m in med.items():
        print(
            f"{name:<14} {m['p50']:>8.1f} {m['p90']:>8.1f} {m['p99']:>8.1f} "
            f"{m['p50_lo']:>6.0f}-{m['p50_hi']:<6.0f} {m['rps']:>10.0f} {m['rps_lo']:>6.0f}-{m['rps_hi']:<6.0f} "
            f"{m['p50'] / ref['p50']:>11.2f}x {m['rps'] / ref['rps']:>11.2f}x"
        )
    ours, httpx_default = med["okx-transport"], med["httpx-default"]
    print(
        f"\nokx-transport over raw aiohttp: p50 {ours['p50'] - ref['p50']:+.1f} µs, "
        f"p99 {ours['p99'] - ref['p99']:+.1f} µs, throughput {ours['rps'] / ref['rps']:.2f}x"
    )
    print(
        f"httpx-default / okx-transport: p50 {httpx_default['p50'] / ours['p50']:.2f}x, "
        f"p99 {httpx_default['p99'] / ours['p99']:.2f}x, throughput {httpx_default['rps'] / ours['rps']:.2f}x  "
        "(>1 latency = httpx-default slower; <1 throughput = slower)"
    )
    print("(medians over rounds; 'range' = min-max of the per-round value over rounds)")


# --------------------------------------------------------------------------------------------- failure mapping


def _closed_port() -> int:
    """A loopback port with nothing listening (bound then released, never listened on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _describe(exc: BaseException) -> str:
    cls = type(exc)
    text = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(exc, httpx.TransportError):
        families = (httpx.TimeoutException, httpx.NetworkError, httpx.ProtocolError)
        kinds = [k.__name__ for k in families if isinstance(exc, k)]
        text += f" [httpx.TransportError: yes; {'/'.join(kinds) or 'direct'}]"
    else:
        text += " [httpx.TransportError: NO]"
    if exc.__cause__ is not None:
        cause = type(exc.__cause__)
        text += f" <- {cause.__module__}.{cause.__qualname__}"
    return text + f": {str(exc)[:70]!r}"


async def _outcome(action: Callable[[], Awaitable[None]]) -> tuple[BaseException | None, str, float]:
    """The exception `action` raised (None if it returned), its description, and the seconds it took."""
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(action(), timeout=TIMEOUT_S)
    except Exception as exc:  # reporting whatever is raised is the point
        return exc, _describe(exc), time.perf_counter() - t0
    return None, "no exception (!)", time.perf_counter() - t0


async def check_failures(port: int) -> bool:
    """Which exception okx-transport raises for each failure; True if every one is the expected httpx class."""
    print(
        "\nFailure mapping, okx-transport (each on a fresh transport; the server-side cases after a warm GET, so the "
        "request goes out on a reused connection):"
    )
    closed = _closed_port()
    cases: list[tuple[str, str, str | None, float, type[httpx.TransportError]]] = [
        ("refused connection", f"http://{HOST}:{closed}", None, TIMEOUT_S, httpx.ConnectError),
        ("closed before response (/drop)", f"http://{HOST}:{port}", DROP_PATH, TIMEOUT_S, httpx.RemoteProtocolError),
        ("closed mid-body (/drop-partial)", f"http://{HOST}:{port}", DROP_PARTIAL_PATH, TIMEOUT_S, httpx.ReadError),
        (
            f"no answer, read timeout {HANG_READ_TIMEOUT_S} s (/hang)",
            f"http://{HOST}:{port}",
            HANG_PATH,
            HANG_READ_TIMEOUT_S,
            httpx.ReadTimeout,
        ),
    ]
    all_ok = True
    for label, base_url, path, read_timeout_s, expected in cases:
        client = OkxTransportClient("okx-transport", base_url, read_timeout_s=read_timeout_s)
        try:
            if path is None:
                exc, outcome, elapsed = await _outcome(lambda c=client: c.place_order(0))
            else:
                await client.get_time()
                exc, outcome, elapsed = await _outcome(lambda c=client, p=path: c.post_raw(p))
        finally:
            await client.aclose()
        # The exact class: a subclass would still be "a TransportError", but ConnectError vs the rest is the point.
        ok = exc is not None and type(exc) is expected
        all_ok &= ok
        verdict = "ok" if ok else f"MISMATCH, expected httpx.{expected.__name__}"
        print(f"  {label}: {verdict} after {elapsed * 1000:.0f} ms\n    {outcome}")
    return all_ok


# --------------------------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace, port: int) -> bool:
    base_url = f"http://{HOST}:{port}"
    clients = make_clients(base_url)
    try:
        results = await benchmark(clients, args.requests, args.requests * 2, args.rounds)
    finally:
        for c in clients:
            await c.aclose()
    print_table(results)
    return await check_failures(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="sequential requests per client per round (the concurrent scenario sends twice as many); default 1000",
    )
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; default 7")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="client event loop; default uvloop, what uvicorn picks for the service",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # keep order with stderr progress
    if args.requests < 100 or args.rounds < 1:
        parser.error("--requests must be >= 100 and --rounds >= 1")

    use_uvloop = args.loop == "uvloop"
    print(
        f"python {sys.version.split()[0]}, httpx {httpx.__version__}, aiohttp {aiohttp.__version__}, "
        f"loop {args.loop}; {args.rounds} rounds x {args.requests} sequential + {args.requests * 2} concurrent "
        f"(@{CONCURRENCY}) per client"
    )
    with server_process(use_uvloop) as port:
        print(f"server: separate process on {HOST}:{port}")
        if use_uvloop:
            import uvloop

            failures_ok = uvloop.run(amain(args, port))
        else:
            failures_ok = asyncio.run(amain(args, port))
    if not failures_ok:
        print("\nFAILURE MAPPING MISMATCH: see above", file=sys.stderr)
    return 0 if failures_ok else 1


if __name__ == "__main__":
    sys.exit(main())
