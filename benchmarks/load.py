"""Load: K strategy clients against the service (uvicorn, PostgreSQL) and the simulator, each its own process.

Targets on a 2-core machine: at least 500 accepted orders/s sustained, p99 API latency below 50 ms, zero errors.

What runs: the OKX simulator (`--many-instruments`: 23 instruments, OKX's per-instrument rate limits on), one or more
service replicas (`python -m app serve`) on a fresh PostgreSQL database, and this process as K clients, each with
its own API key and strategy id. Each client alternates `POST /orders` (an IOC limit buy 2 % under the market: the
exchange accepts it, then cancels it unfilled) and `POST /signals` (a market order of 100 USDT: it fills; every
other one a sell, so that the simulated account's 1,000,000 USDT lasts: buying only, it runs out after ~10,000
signals and the rest are, rightly, refused), spread over the instruments, as fast as its answers come back, for
`--duration` seconds. (Until 2026-12-06 16:00 only the soak's signals sold, so a run could last ~40 s at 500/s.)

Printed: accepted orders/s while the clients ran, and sustained (counted until the service had applied everything
the exchange told it, i.e. every order finished in the database); p50/p95/p99/max API latency; the service's
internal overhead (request received → OKX request sent, from its `trading_internal_overhead_seconds` histogram);
how long the exchange's pushes waited to be applied (`trading_push_apply_seconds`: how far the database was behind);
the service's own time for them (`api_request_seconds`: received → answered; the rest is the clients' queue and
loopback); how late the API replicas' event loops ran a timer (`service_event_loop_lag_seconds`);
errors; CPU per order of each process, up to the moment the service caught up. Then it checks that every accepted
order exists exactly once in the database and exactly once on the exchange, in the same final state and with the
same fills, and that nothing else does.

`LOAD_SHOW_OPEN=1` prints, while the service catches up, how many orders are still open and a few of them.

`--soak SECONDS` runs at a fixed, lower rate (`--rate`) for that long and prints the service's memory (RSS), open
file descriptors and database connections every `--sample` seconds, to show them flat.

`--api-on-standbys` (with `--replicas 2` or more) sends the clients to the standby replicas only, so the leader does
nothing but apply the exchange's pushes. Otherwise each client's order/signal pairs go to the replicas in turn.

`--kill-leader-at T` (with `--replicas 2` or more and `--api-on-standbys`) kills the leader (SIGKILL) T seconds
into the measured load and prints how soon a standby led in its place: a failover under load. The end's check then
shows whether any order or fill was lost or stored twice across it. The group-commit and push figures are then the
survivors' only.

`--disrupt "T:COMMAND"` runs a shell command T seconds into the measured load (e.g. `15:pg_ctlcluster 15 main restart`,
a PostgreSQL restart), and the run shows what its clients were answered meanwhile and whether anything was lost or
doubled. `$SIMULATOR_PID`, `$SIMULATOR_URL` and `$SERVICE_PIDS` are set for it (`15:kill -STOP $SIMULATOR_PID;
sleep 3; kill -CONT $SIMULATOR_PID`: the exchange frozen for 3 s; `$SIMULATOR_URL/sim/v1/faults` switches its
faults, e.g. `{"ws_down": 1}`).

`--restart-service-at T` (one replica) kills the service (SIGKILL) T seconds into the load and starts it again on
the same port: a crash. Its clients' requests in flight or sent meanwhile fail (errors), and the orders among
them that were placed are ones "no client was told about"; what the check must never show is an order in another
state on the two sides, a fill missing or stored twice, or an order open in the database for good.

`--retry-with-keys S` makes the clients careful: every request carries an idempotency key and is sent again with
it after a connection error or a 503, for up to S seconds. Across a crash (`--restart-service-at`) each client then
learns the outcome of every request it sent, so the end's check is strict: no order on either side that no client
was told about. An answer `pending_submit` (a replay of an order written ahead by the service that died) is checked
as an `unknown` one: placed once on both sides, or failed and absent on the exchange.

`--pin-service` gives each replica the clients talk to a CPU of its own (`sched_setaffinity`, every thread), and
puts the simulator, the clients, a leader that serves no API and PostgreSQL (when this user may move its processes;
they are put back on every CPU at the end) on the other CPUs, as a latency-critical process is deployed on a machine
it shares. On 2 cores with one replica: the service on one core, everything else on the other.

`--own-postgres` runs on a throwaway PostgreSQL cluster with the server's default settings (`initdb` in a temporary
directory, as the `postgres` user when run as root), not on `--database-url`'s server, whose configuration may not
be a deployment's (these machines' has autovacuum off).

`--arrival-rate R` runs an open loop instead: R requests a second, due on a fixed schedule whatever the answers,
round the `--clients` keys; each latency counts from when the request was due, so a slow answer cannot hide its own
delay (coordinated omission), and p99 at a given rate is measured as such. Before measuring, `--warmup` seconds (3)
of the same load run unmeasured (the pools open their connections, statements get prepared); their orders are
checked at the end with the others.

Run: `.venv/bin/python benchmarks/load.py [--clients 16] [--duration 30] [--replicas 1] [--api-on-standbys]`
     `.venv/bin/python benchmarks/load.py --arrival-rate 500 --duration 60 --pin-service`
     `.venv/bin/python benchmarks/load.py --arrival-rate 100 [--replicas 2]`
     `.venv/bin/python benchmarks/load.py --soak 600 --rate 100`
     `.venv/bin/python benchmarks/load.py --arrival-rate 200 --replicas 2 --api-on-standbys --kill-leader-at 10`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

# The checkout this script belongs to: it and the processes it starts run that checkout's code, wherever they start
# (through the editable install, `import app` would otherwise find the checkout the virtualenv was installed from,
# and a baseline checkout would be measured with another's service).
CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from _database import recreate_database  # noqa: E402

from app.db import create_engine, create_session_factory  # noqa: E402
from app.heap import settle_heap  # noqa: E402
from app.services.auth import create_api_key  # noqa: E402

INSTRUMENTS = [
    "BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT", "ADA-USDT", "AVAX-USDT", "LINK-USDT", "DOT-USDT",
    "LTC-USDT", "TRX-USDT", "BCH-USDT", "ATOM-USDT", "UNI-USDT", "NEAR-USDT", "APT-USDT", "ARB-USDT", "OP-USDT",
    "FIL-USDT", "ETC-USDT", "XLM-USDT", "SUI-USDT",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # when each latency began (perf_counter), in the same order
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)  # client order ids the service answered as placed
    # Answered as rejected or failed, or refused with the row it closed named (errors too).
    refused: list[str] = field(default_factory=list)
    # Answered `unknown` (the exchange's answer was lost): placed or not, the service finds out; checked at the end
    # against how it found out.
    unknown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # How the clients behave (`--retry-with-keys`): each request carries an idempotency key and is sent again with
    # it, after a connection error or a 503, for up to this long after it was first sent.
    retry_for_s: float = 0.0
    retries: int = 0  # requests sent again so


async def _prepare_database(url: str, clients: int) -> list[str]:
    await recreate_database(url)
    engine = create_engine(url)
    keys = []
    async with create_session_factory(engine)() as session:
        for n in range(clients + 1):  # the last one reads /metrics
            key, _ = await create_api_key(session, name=f"load-{n}", scopes=["trade"])
            keys.append(key)
        await session.commit()
    await engine.dispose()
    return keys


def _own_code(environment: dict[str, str]) -> dict[str, str]:
    inherited = environment.get("PYTHONPATH")
    return {**environment, "PYTHONPATH": str(CHECKOUT) + (os.pathsep + inherited if inherited else "")}


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` on `cpus` (a thread started later inherits its creator's)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:  # gone meanwhile
        return
    for task in tasks:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def _pin_service(
    services: list[tuple[subprocess.Popen[str], str]], api_urls: list[str], simulator: subprocess.Popen[str]
) -> str:
    """`--pin-service`: a CPU of its own for each replica the clients talk to, as a latency-critical process is
    deployed; everything else of the benchmark on the other CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    api = [process for process, url in services if url in api_urls]
    if len(api) >= len(cpus):
        raise SystemExit(f"--pin-service: {len(api)} replica(s) serving the API need more than {len(cpus)} CPUs")
    own, others = cpus[: len(api)], set(cpus[len(api) :])
    for process, cpu in zip(api, own, strict=True):
        _pin(process.pid, {cpu})
    for process, url in services:
        if url not in api_urls:
            _pin(process.pid, others)
    _pin(simulator.pid, others)
    _pin(os.getpid(), others)
    postgres = "PostgreSQL too (its postmaster, so new backends follow; put back on every CPU at the end)"
    try:
        for pid in _postgres_pids():
            _pin(pid, others)
    except PermissionError:
        postgres = "PostgreSQL left to the scheduler (its processes are not this user's to move)"
    return (
        f"pinned: the API replica(s) on CPU {', '.join(map(str, own))} (one each); the simulator, the clients, "
        f"any leader that serves no API and {postgres} on CPU {', '.join(map(str, sorted(others)))}"
    )


def _unpin_postgres() -> None:
    """PostgreSQL is the machine's: back on every CPU."""
    with contextlib.suppress(PermissionError):
        for pid in _postgres_pids():
            _pin(pid, set(range(os.cpu_count() or 1)))


def _start_simulator(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    log = (workdir / "simulator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.services.okx.simulator", "--port", str(port), "--many-instruments"],
        env=_own_code(dict(os.environ)),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def _start_service(
    workdir: Path, database_url: str, okx_url: str, n: int, port: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    port = port or _free_port()
    environment = {
        **os.environ,
        "ENVIRONMENT": "sim",
        "DATABASE_URL": database_url,
        "OKX_REST_URL": okx_url,
        "PORT": str(port),
        "LOG_LEVEL": os.environ.get("LOAD_LOG_LEVEL", "WARNING"),
        "RISK_MAX_OPEN_ORDERS": "100000",
        "RISK_MAX_ORDERS_PER_STRATEGY": "1000",
        "RISK_MAX_ORDER_SIZE": "1000000",
    }
    log = (workdir / f"service-{n}.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        env=_own_code(environment),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


async def _wait_ready(http: aiohttp.ClientSession, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not get ready in {timeout:.0f} s")


async def _prices(http: aiohttp.ClientSession, okx_url: str) -> dict[str, Decimal]:
    async with http.get(f"{okx_url}/api/v5/market/tickers", params={"instType": "SPOT"}) as response:
        body = await response.json()
    return {t["instId"]: Decimal(t["last"]) for t in body["data"]}


async def _roles(http: aiohttp.ClientSession, urls: list[str], timeout: float = 30) -> dict[str, str]:
    """Each replica's role, once exactly one leads (the leader applies every push)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = {}
        for url in urls:
            async with http.get(f"{url}/ready") as response:
                roles[url] = (await response.json()).get("role")
        if list(roles.values()).count("leader") == 1 and list(roles.values()).count("standby") == len(urls) - 1:
            return roles
        await asyncio.sleep(0.2)
    raise SystemExit(f"no single leader among {urls} within {timeout:.0f} s")


async def _disrupt(
    spec: str, load_started: float, simulator_pid: int, simulator_url: str, service_pids: list[int]
) -> str:
    """`--disrupt T:COMMAND`: the command, run T s into the load; what it did, for the report."""
    at, _, command = spec.partition(":")
    await asyncio.sleep(max(0.0, load_started + float(at) - time.monotonic()))
    began = time.monotonic()
    environment = {
        **os.environ,
        "SIMULATOR_PID": str(simulator_pid),
        "SIMULATOR_URL": simulator_url,
        "SERVICE_PIDS": " ".join(map(str, service_pids)),
    }
    # Its output to a file, not a pipe: a server it starts (a restart) inherits the pipe and would hold it open.
    with tempfile.TemporaryFile() as output:
        process = await asyncio.create_subprocess_shell(command, env=environment, stdout=output, stderr=output)
        await process.wait()
        output.seek(0)
        said = output.read().decode(errors="replace").strip()[:200]
    took = time.monotonic() - began
    outcome = "" if process.returncode == 0 else f", exit {process.returncode}: {said}"
    return f"disruption at {began - load_started:.1f} s ({took:.1f} s): {command}{outcome}"


async def _kill_at(process: subprocess.Popen[str], at: float) -> tuple[float, float]:
    """SIGKILL `process` at `at` (time.monotonic()); when it was killed, and its CPU seconds read just before (a dead
    process's are gone)."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    cpu = sum(_cpu_seconds([process.pid]).values())
    killed = time.monotonic()
    process.kill()
    process.wait()
    return killed, cpu


async def _crash_and_restart(
    http: aiohttp.ClientSession,
    services: list[tuple[subprocess.Popen[str], str]],
    load_started: float,
    after_s: float,
    workdir: Path,
    database_url: str,
    okx_url: str,
) -> tuple[float, float | None, float, int]:
    """`--restart-service-at`: `after_s` into the load, SIGKILL replica 0 and start it again on its port (in
    `services`, for the rest of the run). Returns when it was killed (s into the load), how long until it was ready
    again (None: not within 60 s), the killed process's CPU seconds read just before its death, and its pid."""
    process, url = services[0]
    killed, cpu = await _kill_at(process, load_started + after_s)
    services[0] = _start_service(workdir, database_url, okx_url, 0, port=int(url.rpartition(":")[2]))
    try:
        await _wait_ready(http, f"{url}/ready")
    except SystemExit:
        return killed - load_started, None, cpu, process.pid
    return killed - load_started, time.monotonic() - killed, cpu, process.pid


async def _kill_leader(
    http: aiohttp.ClientSession, leader: subprocess.Popen[str], standbys: list[str], load_started: float, after_s: float
) -> tuple[float, float | None, float]:
    """`--kill-leader-at`: `after_s` into the load, SIGKILL the leader; then how long until one of the standbys says
    it leads (polled every 50 ms, up to 30 s). Returns when it was killed (s into the load), that time (None: no
    standby led) and the leader's CPU seconds read just before its death (a dead process's are gone)."""
    killed, cpu = await _kill_at(leader, load_started + after_s)
    while time.monotonic() - killed < 30:
        for url in standbys:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/ready", timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if (await response.json()).get("role") == "leader":
                        return killed - load_started, time.monotonic() - killed, cpu
        await asyncio.sleep(0.05)
    return killed - load_started, None, cpu


def _error_kind(error: str) -> str:
    """An error line's kind: the service's error code with the HTTP status, or the client's exception."""
    _, _, rest = error.partition(" → ")
    if not rest:
        text = error.partition(": ")[2] if error.startswith("request ") else error
        parts = text.split(": ")
        return parts[1] if len(parts) >= 3 else text[:40]
    status = rest.split(":", 1)[0]
    code = rest.partition("'code': '")[2].partition("'")[0] or rest.partition("'status': '")[2].partition("'")[0]
    return f"{status} {code or '?'}"


IDEMPOTENCY_FIELD = {"/api/v1/trading/orders": "client_order_id", "/api/v1/trading/signals": "client_signal_id"}
_IDEMPOTENCY_KEYS = itertools.count()
RETRY_PAUSE_S = 0.2


def _request_for(n: int, sequence: int, prices: dict[str, Decimal]) -> tuple[str, dict[str, str]]:
    """Client n's request number `sequence`: even ones an IOC limit buy 2 % under the market (accepted, then
    canceled unfilled), odd ones a market signal of 100 USDT (filled), buying and selling in turn; the instruments
    in turn, from n's own."""
    instrument = INSTRUMENTS[(n + sequence) % len(INSTRUMENTS)]
    if sequence % 2 == 0:
        price = (prices[instrument] * Decimal("0.98")).quantize(Decimal("0.0001"))
        size = "0.001" if instrument in ("BTC-USDT", "ETH-USDT") else "1"
        return "/api/v1/trading/orders", {
            "instrument_id": instrument, "side": "buy", "order_type": "ioc", "size": size, "price": str(price),
            "strategy_id": f"load-{n}",
        }  # fmt: skip
    # Signals alternate buying and selling, so that the simulated account's USDT (1,000,000) lasts at any duration:
    # buying only, it runs out after ~10,000 signals (a 40 s run at 500/s) and the rest are refused, rightly.
    side = "sell" if sequence % 4 == 3 else "buy"
    return "/api/v1/trading/signals", {
        "strategy_id": f"load-{n}", "instrument_id": instrument, "side": side, "notional": "100",
    }  # fmt: skip


def _url_for(n: int, sequence: int, service_urls: list[str]) -> str:
    """The replica for client n's request `sequence`: each pair (an order and a signal) to the next replica, the
    clients starting at different ones, so every replica gets both kinds alike. (Before 2026-11-29 20:30, request
    i went to replica i mod 2: with two replicas one got every order and the other every signal.)"""
    return service_urls[(n + sequence // 2) % len(service_urls)]


async def _send(
    http: aiohttp.ClientSession, url: str, path: str, body: dict[str, str], key: str, started: float, results: Results
) -> None:
    """One request; its latency counts from `started` (in the open loop: when it was due, not when it went), its
    retries' time included."""
    if results.retry_for_s:
        body = {**body, IDEMPOTENCY_FIELD[path]: f"load-{next(_IDEMPOTENCY_KEYS)}"}
    deadline = time.perf_counter() + results.retry_for_s
    while True:
        try:
            async with http.post(url + path, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
                answer = await response.json()
                status = response.status
            if status != 503 or time.perf_counter() >= deadline:
                break
        except (aiohttp.ClientError, TimeoutError) as exc:
            if time.perf_counter() >= deadline:
                results.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                return
        results.retries += 1
        await asyncio.sleep(RETRY_PAUSE_S)
    results.latencies.append(time.perf_counter() - started)
    results.started.append(started)
    results.statuses[str(status)] += 1
    if status in (200, 201) and answer.get("status") in ("unknown", "pending_submit"):
        # Not yet known to be placed (an `unknown` answer, or a replay of an order written ahead by a service that
        # died before its answer): the service finds out; checked at the end against how it found out.
        results.unknown.append(answer["client_order_id"])
    elif status in (200, 201) and answer.get("status") not in ("rejected", "failed"):
        results.accepted.append(answer["client_order_id"])
    else:
        if status in (200, 201):  # refused after it was written (the exchange said no): its client knows
            results.refused.append(answer["client_order_id"])
        elif isinstance(details := (answer.get("error") or {}).get("details"), dict) and "client_order_id" in details:
            results.refused.append(details["client_order_id"])  # a 429 over OKX's cap names the row it closed
        results.errors.append(f"{path} → {status}: {str(answer)[:200]}")


async def _client(
    n: int,
    http: aiohttp.ClientSession,
    service_urls: list[str],
    key: str,
    prices: dict[str, Decimal],
    until: float,
    results: Results,
    pause_s: float,
) -> None:
    """A closed-loop client: its next request goes when the last one was answered (and `pause_s` has passed)."""
    for sequence in itertools.count():
        if time.monotonic() >= until:
            return
        path, body = _request_for(n, sequence, prices)
        url = _url_for(n, sequence, service_urls)
        await _send(http, url, path, body, key, time.perf_counter(), results)
        if pause_s:
            await asyncio.sleep(pause_s)


async def _open_loop(
    rate: float,
    http: aiohttp.ClientSession,
    service_urls: list[str],
    keys: list[str],
    prices: dict[str, Decimal],
    until: float,
    results: Results,
    max_in_flight: int,
) -> None:
    """An open loop: request i is due at start + i / rate whatever the answers before it, so a slow answer does
    not hold the next requests back and hide its own delay (coordinated omission). Its latency counts from when it
    was due. The requests go round the keys (one strategy each); more than `max_in_flight` unanswered at once is
    an overload, counted as errors instead of queued without bound."""
    in_flight: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for i in itertools.count():
        due = started + i / rate
        if time.monotonic() >= until:
            break
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            results.errors.append(f"request {i}: {max_in_flight} requests unanswered, not sent")
            continue
        n, sequence = i % len(keys), i // len(keys)
        path, body = _request_for(n, sequence, prices)
        url = _url_for(n, sequence, service_urls)
        task = asyncio.create_task(_send(http, url, path, body, keys[n], due, results))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)


Quantiles = tuple[float, float, float, int]


def _quantile_from_histogram(buckets: list[tuple[float, float]], q: float) -> float:
    """Linear interpolation inside cumulative Prometheus buckets (upper bound, count)."""
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:  # no such histogram (an older service), or nothing in it
        return float("nan")
    target = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= target:
            if bound == float("inf"):
                return previous_bound
            share = (target - previous_count) / max(count - previous_count, 1e-12)
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


@dataclass
class Histogram:
    """A histogram of the services' /metrics, summed over the replicas: cumulative bucket counts by upper bound."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0

    def since(self, before: Histogram) -> Quantiles:
        """p50, p99, mean (seconds) and count of what was observed after `before` was read."""
        buckets = sorted((bound, n - before.buckets.get(bound, 0.0)) for bound, n in self.buckets.items())
        count = self.count - before.count
        return (
            _quantile_from_histogram(buckets, 0.5),
            _quantile_from_histogram(buckets, 0.99),
            (self.total - before.total) / count if count else float("nan"),
            int(count),
        )


async def _histogram(
    http: aiohttp.ClientSession,
    service_urls: list[str],
    key: str,
    name: str,
    labels: dict[str, set[str]] | None = None,
) -> Histogram:
    """`name` summed over the replicas, and over its label values (only `labels`' values, if given)."""
    histogram = Histogram()
    for url in service_urls:
        for attempt in range(3):  # a kept-alive connection the service closed as it was reused: a GET, so again
            try:
                async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}) as response:
                    text = await response.text()
                break
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt == 2:
                    raise
        for family in text_string_to_metric_families(text):
            if family.name != name:
                continue
            for sample in family.samples:
                if labels and any(sample.labels.get(label) not in values for label, values in labels.items()):
                    continue
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    histogram.buckets[bound] = histogram.buckets.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_sum"):
                    histogram.total += sample.value
                elif sample.name.endswith("_count"):
                    histogram.count += sample.value
    return histogram


async def _order_carriers(http: aiohttp.ClientSession, service_urls: list[str], key: str) -> Counter[str]:
    """How many order placements went by WebSocket op and how many by REST (`okx_request_seconds` by method)."""
    carriers: Counter[str] = Counter()
    for url in service_urls:
        async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}) as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            if family.name == "okx_request_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_count") and sample.labels.get("endpoint") == "/api/v5/trade/order":
                        carriers["WebSocket" if sample.labels["method"] == "WS" else "REST"] += int(sample.value)
    return carriers


OPEN = "status NOT IN ('filled', 'canceled', 'rejected', 'failed', 'expired')"
# The service's own time for these (`api_request_seconds` by endpoint), against the latency the clients see.
ORDER_ROUTES = {"endpoint": {"create_order", "post_signal"}}


async def _postgres_settings(database_url: str) -> str:
    """The server settings that move these figures, so runs on different machines can be compared: with
    autovacuum off (these machines' CI configuration) every update's dead row stays in the tables and indexes for
    the whole run, which no deployment would do.

    And how many WAL segments are on disk: once a run has used those the last checkpoint kept for reuse, every new
    16 MB segment (one every ~6 s at 500 orders/s) is zero-filled while commits wait, a 70-100 ms stall each time
    (2026-12-06: from 126 s of a 300 s run on a pg_wal that CI had just emptied). A server that has run this load
    before keeps its segments, so two runs compare only with about as many."""
    connection = await asyncpg.connect(_plain(database_url))
    try:
        names = ["server_version", "autovacuum", "shared_buffers", "synchronous_commit", "fsync", "max_wal_size"]
        rows = await connection.fetch("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)", names)
        try:
            segments = await connection.fetchval("SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'")
        except asyncpg.PostgresError:  # not a superuser, nor in pg_monitor
            segments = None
    finally:
        await connection.close()
    found = {row["name"]: _with_unit(row["setting"], row["unit"]) for row in rows}
    settings = ", ".join(f"{name} {found[name]}" for name in names if name in found)
    return f"PostgreSQL {settings}" + (f"; WAL segments on disk {segments}" if segments is not None else "")


def _with_unit(setting: str, unit: str | None) -> str:
    """pg_settings counts some sizes in 8 kB blocks."""
    if unit == "8kB":
        return f"{int(setting) * 8 // 1024} MB"
    return setting + (f" {unit}" if unit else "")


async def _settle(database_url: str, timeout_s: float = 120.0) -> float:
    """Seconds until the service has applied everything the exchange told it: every order of the run (IOC or
    market) ends finished, so none open means the tracker has caught up. A backlog it is still working through
    when the clients stop is work the throughput figure did not pay for: this is how long it took."""
    show = bool(os.environ.get("LOAD_SHOW_OPEN"))
    connection = await asyncpg.connect(_plain(database_url))
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            open_orders = await connection.fetchval(f"SELECT count(*) FROM orders WHERE {OPEN}")
            if open_orders == 0:
                break
            if show:
                rows = await connection.fetch(
                    "SELECT id, status, exchange_order_id IS NOT NULL AS acked, order_type"
                    f" FROM orders WHERE {OPEN} LIMIT 5"
                )
                print(f"  {time.monotonic() - started:5.1f} s: {open_orders} open, e.g. {[tuple(r) for r in rows]}")
            await asyncio.sleep(0.5 if show else 0.1)
        else:
            print(f"NOT settled: {open_orders} orders still open {timeout_s:.0f} s after the clients stopped")
    finally:
        await connection.close()
    return time.monotonic() - started


async def _verify(
    database_url: str,
    http: aiohttp.ClientSession,
    okx_url: str,
    accepted: list[str],
    unknown: list[str],
    refused: list[str],
) -> list[str]:
    """Every accepted order exactly once in the database and on the exchange, in the same final state and with the
    same fills; nothing else on either side. An order answered `unknown` is either on the exchange, once, as it is
    in the database (it was placed), or on neither side as placed: failed or rejected in the database and absent
    on the exchange. One answered as refused (rejected, failed) is in that state in the database, not live on the
    exchange."""
    problems = []
    connection = await asyncpg.connect(_plain(database_url))
    try:
        rows = await connection.fetch("SELECT client_order_id, status FROM orders WHERE client_order_id IS NOT NULL")
        fills = await connection.fetch("SELECT instrument_id, exchange_trade_id FROM trades")
    finally:
        await connection.close()
    in_database = Counter(row[0] for row in rows)
    async with http.get(f"{okx_url}/sim/v1/state") as response:
        state = await response.json()
    on_exchange = Counter(order["clOrdId"] for order in state["orders"])
    exchange_states = {order["clOrdId"]: order["state"] for order in state["orders"]}
    if differing := [row[0] for row in rows if exchange_states.get(row[0], row[1]) != row[1]]:
        problems.append(f"{len(differing)} orders in another state than on the exchange, e.g. {differing[:3]}")
    stored = Counter((row[0], row[1]) for row in fills)
    exchange_fills = {(order["instId"], fill["tradeId"]) for order in state["orders"] for fill in order["fills"]}
    if twice := [key for key, count in stored.items() if count > 1]:
        problems.append(f"{len(twice)} fills stored twice")
    if set(stored) != exchange_fills:
        problems.append(
            f"fills differ: {len(exchange_fills - set(stored))} missing, {len(set(stored) - exchange_fills)} unknown"
        )
    statuses = {row[0]: row[1] for row in rows}
    placed_unknown = [k for k in unknown if on_exchange[k] == 1 and in_database[k] == 1]
    never_placed = [k for k in unknown if not on_exchange[k] and statuses.get(k) in ("failed", "rejected")]
    if wrong := sorted(set(unknown) - set(placed_unknown) - set(never_placed)):
        problems.append(f"{len(wrong)} orders answered unknown and settled wrongly, e.g. {wrong[:3]}")
    if wrong := sorted(k for k in refused if statuses.get(k) not in ("failed", "rejected")):
        problems.append(f"{len(wrong)} orders answered refused and stored otherwise, e.g. {wrong[:3]}")
    accepted = accepted + placed_unknown
    told = set(unknown) | set(refused)  # a client was told of each, placed or not
    accepted_set = Counter(accepted)
    if dup := [k for k, c in accepted_set.items() if c > 1]:
        problems.append(f"{len(dup)} client order ids answered twice")
    for name, side in (("database", in_database), ("exchange", on_exchange)):
        missing = [k for k in accepted_set if side[k] != 1]
        extra = [k for k in side if k not in accepted_set and k not in told]
        if missing:
            problems.append(f"{len(missing)} accepted orders not exactly once in the {name}, e.g. {missing[:3]}")
        if extra:
            found_as = Counter(statuses.get(k, "?") if name == "database" else exchange_states.get(k) for k in extra)
            problems.append(
                f"{len(extra)} orders in the {name} that no client was told about ({dict(found_as)}), e.g. {extra[:3]}"
            )
    return problems


def _process_stats(pid: int, database_url: str) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    name = database_url.rpartition("/")[2]
    connections = int(
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-c",
             f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"],
            capture_output=True, text=True, check=False,
        ).stdout.strip() or 0
    )  # fmt: skip
    return rss_kb / 1024, fds, connections


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds so far of each of these processes (their finished children included)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            seconds[pid] = sum(int(value) for value in fields[11:15]) / tick  # utime, stime, cutime, cstime
    return seconds


def _cpu_spent(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds spent since `before` by these processes; one started since (a new PostgreSQL backend) counts
    from zero."""
    return sum(now - before.get(pid, 0.0) for pid, now in _cpu_seconds(pids).items())


def _stolen_seconds() -> float:
    """CPU time the hypervisor gave to others while this machine's vCPUs wanted it (/proc/stat's steal), so far: a
    run with much of it ran on a busy host, and its figures are not comparable with a quiet one's."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


REFERENCE_LOOP = 2_000_000


def _host_speed_ms() -> float:
    """This host's speed now: the median of 5 timings (ms of this process's CPU) of one fixed pure-Python loop, so
    that runs on different hosts, or on one host in a fast and a slow half hour, can be told apart. Hosts here have
    differed by 1.7× in it between two runs a minute apart, with no steal reported (2026-12-07, an AMD EPYC); a run's
    CPU per order moves with it. Taken before the processes start and after they stop: the machine otherwise idle."""
    timings = []
    for _ in range(5):
        started, total = time.process_time(), 0
        for i in range(REFERENCE_LOOP):
            total += i * i
        timings.append((time.process_time() - started) * 1000)
    return statistics.median(timings)


def _postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True, check=False).stdout.split()
    return [int(pid) for pid in found]


def _report(results: Results, elapsed: float, overhead: Quantiles, submit: Quantiles) -> None:
    ordered = sorted(results.latencies)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    print(f"requests: {len(results.latencies):,} in {elapsed:.1f} s; HTTP statuses {dict(results.statuses)}")
    print(f"accepted orders: {len(results.accepted):,} = {len(results.accepted) / elapsed:,.0f} orders/s")
    print(
        f"API latency: p50 {pick(0.5):.1f} ms, p95 {pick(0.95):.1f} ms, p99 {pick(0.99):.1f} ms, "
        f"max {pick(1.0):.1f} ms (median {statistics.median(ordered) * 1000 if ordered else float('nan'):.1f} ms)"
    )
    p50, p99, mean, count = overhead
    print(
        f"internal overhead (request received → OKX request sent, {count:,} orders): "
        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, mean {mean * 1000:.2f} ms"
    )
    p50, p99, mean, count = submit
    print(
        f"exchange answer (OKX request sent → answer read, {count:,} orders): "
        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, mean {mean * 1000:.2f} ms"
    )
    if elapsed >= 40:
        windows = ", ".join(f"{p99:.0f}" for p99 in _p99_by_window(results))
        print(f"API latency p99 by {_WINDOW_S:.0f} s (ms): {windows}")
    print(f"errors: {len(results.errors)}" + (f", e.g. {results.errors[:3]}" if results.errors else ""))
    if results.errors:
        kinds = Counter(_error_kind(error) for error in results.errors)
        print("errors by kind: " + ", ".join(f"{kind} {count:,}" for kind, count in kinds.most_common()))


_WINDOW_S = 20.0


def _p99_by_window(results: Results) -> list[float]:
    """p99 of the requests begun in each successive window: whether a long run's p99 drifts (the tables grow) or
    comes from a few bad moments (a checkpoint, the host)."""
    if not results.started:
        return []
    first = min(results.started)
    windows: dict[int, list[float]] = {}
    for started, latency in zip(results.started, results.latencies, strict=True):
        windows.setdefault(int((started - first) // _WINDOW_S), []).append(latency)
    in_order = [latencies for _, latencies in sorted(windows.items())]
    if len(in_order) > 1 and len(in_order[-1]) < len(in_order[0]) / 2:
        in_order.pop()  # the run's last moments, not a whole window
    return [sorted(latencies)[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 for latencies in in_order]


def _write_latencies(results: Results, path: Path) -> None:
    first = min(results.started, default=0.0)
    wall = time.time() - (time.perf_counter() - first)
    with path.open("w") as out:
        out.write(f"started_s,latency_ms  # started_s 0 = {datetime.fromtimestamp(wall, UTC).isoformat()}\n")
        for started, latency in sorted(zip(results.started, results.latencies, strict=True)):
            out.write(f"{started - first:.4f},{latency * 1000:.2f}\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_load")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument(
        "--api-on-standbys",
        action="store_true",
        help="with --replicas > 1: clients talk to the standbys only, the leader only tracks (applies the pushes)",
    )
    parser.add_argument(
        "--disrupt",
        action="append",
        default=[],
        metavar="T:COMMAND",
        help="run this shell command T seconds into the measured load ($SIMULATOR_PID, $SIMULATOR_URL, $SERVICE_PIDS "
        "set); repeatable",
    )
    parser.add_argument(
        "--restart-service-at",
        type=float,
        default=0.0,
        help="with one replica: SIGKILL the service this many seconds into the load and start it again (a crash)",
    )
    parser.add_argument(
        "--retry-with-keys",
        type=float,
        default=0.0,
        metavar="S",
        help="clients as a careful strategy is written: every request with an idempotency key, sent again with it "
        "after a connection error or a 503 for up to S seconds (the end's check is then strict across a crash)",
    )
    parser.add_argument(
        "--kill-leader-at",
        type=float,
        default=0.0,
        help="with --replicas > 1 and --api-on-standbys: SIGKILL the leader this many seconds into the measured "
        "load, and print how soon a standby leads instead",
    )
    parser.add_argument(
        "--pin-service",
        action="store_true",
        help="each replica that serves the API gets a CPU of its own; the simulator, these clients, a leader that "
        "serves none and (if this user may move its processes) PostgreSQL share the others",
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="open loop: this many requests/s in all, due on a fixed schedule over --clients keys, whatever the "
        "answers (latency counted from when each was due)",
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of the same load before measuring (not with --soak)"
    )
    parser.add_argument("--max-in-flight", type=int, default=1000, help="open loop: beyond this, not sent (errors)")
    parser.add_argument("--soak", type=float, default=0.0, help="soak for this many seconds at --rate")
    parser.add_argument("--rate", type=float, default=100.0, help="soak: requests per second in all")
    parser.add_argument("--sample", type=float, default=30.0, help="soak: seconds between samples")
    parser.add_argument(
        "--own-postgres",
        action="store_true",
        help="run on a PostgreSQL cluster of its own (initdb in a temporary directory, the server's defaults: "
        "autovacuum on), not --database-url's; removed at the end",
    )
    parser.add_argument(
        "--latencies-csv",
        type=Path,
        help="write each measured request's start (s since the first) and latency (ms) here, to find when the "
        "slow ones happen",
    )
    args = parser.parse_args()
    if args.restart_service_at and args.replicas != 1:
        parser.error("--restart-service-at is for one replica (see --kill-leader-at for several)")
    if args.kill_leader_at and (args.replicas < 2 or not args.api_on_standbys):
        parser.error("--kill-leader-at needs --replicas 2 (or more) and --api-on-standbys")
    own = _OwnPostgres.start() if args.own_postgres else None
    try:
        await _run(args, own.url if own else args.database_url)
    finally:
        if own:
            own.stop()


class _OwnPostgres:
    """`--own-postgres`: a throwaway cluster with PostgreSQL's default settings, as a deployment runs it (these
    machines' server has autovacuum off, its CI configuration). Run as the `postgres` user when this is root."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/bench_load"

    @staticmethod
    def _as_postgres(command: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + command, check=True, stdout=subprocess.DEVNULL)

    @classmethod
    def start(cls) -> _OwnPostgres:
        directory = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        cluster = cls(directory, _free_port())
        cls._as_postgres(["initdb", "-D", str(directory / "data"), "-U", "postgres", "-A", "trust"])
        options = f"-p {cluster.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
        cls._as_postgres(
            ["pg_ctl", "-D", str(directory / "data"), "-o", options, "-l", str(directory / "log"), "-w", "start"]
        )
        return cluster

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(["pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.directory, ignore_errors=True)


async def _run(args: argparse.Namespace, database_url: str) -> None:
    keys = await _prepare_database(database_url, args.clients)
    speed_before = _host_speed_ms()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    simulator, okx_url = _start_simulator(workdir)
    services = [_start_service(workdir, database_url, okx_url, n) for n in range(args.replicas)]
    service_urls = [url for _, url in services]
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            await _wait_ready(http, f"{okx_url}/api/v5/public/time")
            for url in service_urls:
                await _wait_ready(http, f"{url}/ready")
            roles = await _roles(http, service_urls)
            if args.api_on_standbys:
                service_urls = [url for url in service_urls if roles[url] == "standby"]
            if args.pin_service:
                print(_pin_service(services, service_urls, simulator))
            prices = await _prices(http, okx_url)
            results = Results(retry_for_s=args.retry_with_keys)
            duration = args.soak or args.duration
            pause = args.clients / args.rate if args.soak else 0.0
            print(
                f"{args.clients} clients, {args.replicas} replica(s), {duration:.0f} s"
                + (
                    f", soak at ~{args.rate:.0f} requests/s"
                    if args.soak
                    else f", open loop: {args.arrival_rate:.0f} requests/s due"
                    if args.arrival_rate
                    else ", as fast as answers come"
                )
            )
            print(await _postgres_settings(database_url))
            settle_heap()  # as the service does: no long collection pauses of this process in what it measures
            watched = {
                "service": [process.pid for process, _ in services],
                **(
                    {f"  of which the {roles[url]} ({n})": [process.pid] for n, (process, url) in enumerate(services)}
                    if len(services) > 1
                    else {}
                ),
                "simulator": [simulator.pid],
                "postgresql": _postgres_pids(),
                "load clients": [os.getpid()],
            }

            def start_load(until: float, results: Results) -> list[asyncio.Task[None]]:
                if args.arrival_rate:
                    loop = _open_loop(
                        args.arrival_rate, http, service_urls, keys[:-1], prices, until, results, args.max_in_flight
                    )
                    return [asyncio.create_task(loop)]
                return [
                    asyncio.create_task(_client(n, http, service_urls, keys[n], prices, until, results, pause))
                    for n in range(args.clients)
                ]

            warm = Results(retry_for_s=args.retry_with_keys)
            if args.warmup and not args.soak:
                # The same load, not measured: the pools open their connections, statements are prepared, the
                # code paths get warm. Its orders are still checked at the end with the others.
                await asyncio.gather(*start_load(time.monotonic() + args.warmup, warm))
            histograms_before = {
                name: await _histogram(http, service_urls, keys[-1], name)
                for name in ("trading_internal_overhead_seconds", "trading_order_submit_seconds")
            }
            # Every replica's figures, but for a leader that will be killed: those of the survivors only.
            replica_urls = [url for _, url in services if not (args.kill_leader_at and roles[url] == "leader")]
            groups_before = await _histogram(http, replica_urls, keys[-1], "db_group_commit_calls")
            pushes_before = await _histogram(http, replica_urls, keys[-1], "trading_push_apply_seconds")
            lag_before = await _histogram(http, service_urls, keys[-1], "service_event_loop_lag_seconds")
            answered_before = await _histogram(http, service_urls, keys[-1], "api_request_seconds", ORDER_ROUTES)
            cpu_before = {name: _cpu_seconds(pids) for name, pids in watched.items()}
            stolen_before = _stolen_seconds()
            started = time.monotonic()
            clients = start_load(started + duration, results)
            disruptions = [
                asyncio.create_task(_disrupt(spec, started, simulator.pid, okx_url, [p.pid for p, _ in services]))
                for spec in args.disrupt
            ]
            crash = (
                asyncio.create_task(
                    _crash_and_restart(http, services, started, args.restart_service_at, workdir, database_url, okx_url)
                )
                if args.restart_service_at
                else None
            )
            leader = next(process for process, url in services if roles[url] == "leader")
            failover = (
                asyncio.create_task(_kill_leader(http, leader, service_urls, started, args.kill_leader_at))
                if args.kill_leader_at
                else None
            )
            if args.soak:
                pid = services[0][0].pid
                print("   t (s)   RSS (MB)   open fds   db connections   orders so far")
                while not all(c.done() for c in clients):
                    rss, fds, connections = _process_stats(pid, database_url)
                    print(
                        f"  {time.monotonic() - started:6.0f}   {rss:8.1f}   {fds:8d}   {connections:14d}   "
                        f"{len(results.accepted):13,}",
                        flush=True,
                    )
                    await asyncio.wait(clients, timeout=args.sample)
            await asyncio.gather(*clients)
            elapsed = time.monotonic() - started
            for line in await asyncio.gather(*disruptions):
                print(line)
            settle_s = await _settle(database_url)
            # CPU up to the moment the service caught up: work left in a backlog is counted, not hidden.
            watched["postgresql"] = _postgres_pids()  # backends opened during the run count too
            cpu = {name: _cpu_spent(cpu_before[name], pids) for name, pids in watched.items()}
            if crash is not None:
                killed_at, ready_s, dead_cpu, dead_pid = await crash
                for name, pids in watched.items():  # the killed process's CPU as read before its death; the new one's
                    if dead_pid in pids:
                        cpu[name] += dead_cpu - cpu_before[name].get(dead_pid, 0.0)
                        cpu[name] += sum(_cpu_seconds([services[0][0].pid]).values())
                print(
                    f"crash: the service killed (SIGKILL) {killed_at:.1f} s into the load and started again; ready "
                    + (f"{ready_s:.2f} s after the kill" if ready_s is not None else "NOT within 60 s")
                    + " (the service's own figures below are the restarted process's)"
                )
                # Its counters started again from zero.
                histograms_before = {name: Histogram() for name in histograms_before}
                groups_before = pushes_before = lag_before = answered_before = Histogram()
            if failover is not None:
                killed_at, took_s, leader_cpu = await failover
                for name, pids in watched.items():  # the killed leader's CPU, as read just before its death
                    if leader.pid in pids:
                        cpu[name] += leader_cpu - cpu_before[name].get(leader.pid, 0.0)
                print(
                    f"failover: the leader killed (SIGKILL) {killed_at:.1f} s into the load; a standby led "
                    + (f"{took_s:.2f} s later" if took_s is not None else "NOT within 30 s")
                )
            stolen = _stolen_seconds() - stolen_before
            print(
                f"settled (every order finished in the database) {settle_s:.1f} s after the clients stopped: "
                f"sustained {len(results.accepted) / (elapsed + settle_s):,.0f} accepted orders/s"
            )
            overhead, submit = [
                (await _histogram(http, service_urls, keys[-1], name)).since(before)
                for name, before in histograms_before.items()
            ]
            _report(results, elapsed, overhead, submit)
            if args.latencies_csv:
                _write_latencies(results, args.latencies_csv)
            groups = (await _histogram(http, replica_urls, keys[-1], "db_group_commit_calls")).since(groups_before)
            if groups[3]:
                print(f"group commits (direct lane): {groups[3]:,}, {groups[2]:.1f} units of work each on average")
            pushes = (await _histogram(http, replica_urls, keys[-1], "trading_push_apply_seconds")).since(pushes_before)
            print(
                f"pushes applied (received from the exchange → committed, {pushes[3]:,}): p50 {pushes[0] * 1000:.1f} "
                f"ms, p99 {pushes[1] * 1000:.1f} ms, mean {pushes[2] * 1000:.1f} ms"
            )
            answered = (await _histogram(http, service_urls, keys[-1], "api_request_seconds", ORDER_ROUTES)).since(
                answered_before
            )
            print(
                f"in the service (request received → answered, {answered[3]:,} orders and signals): "
                f"p50 {answered[0] * 1000:.1f} ms, p99 {answered[1] * 1000:.1f} ms, mean {answered[2] * 1000:.1f} ms "
                "(the rest of the API latency: the clients' own queue and loopback)"
            )
            lag = (await _histogram(http, service_urls, keys[-1], "service_event_loop_lag_seconds")).since(lag_before)
            print(
                f"event-loop lag of the API replica(s) (a 0.1 s timer's lateness, {lag[3]:,} samples): "
                f"p50 {lag[0] * 1000:.1f} ms, p99 {lag[1] * 1000:.1f} ms, mean {lag[2] * 1000:.1f} ms"
            )
            carriers = await _order_carriers(http, replica_urls, keys[-1])
            print(
                f"orders placed over the WebSocket: {carriers['WebSocket']:,}, by REST: {carriers['REST']:,} "
                "(since the start, warm-up included)"
            )
            busy = sum(seconds for name, seconds in cpu.items() if "of which" not in name)  # each process once
            per_order = {name: seconds * 1000 / max(len(results.accepted), 1) for name, seconds in cpu.items()}
            print(
                "CPU per accepted order (ms; 2 cores = 2,000 ms/s in all): "
                + ", ".join(f"{name} {ms:.2f}" for name, ms in per_order.items())
                + f"; machine busy {busy / (elapsed + settle_s) * 100:.0f} % of one core"
                + f", taken by the host (steal) {stolen / (elapsed + settle_s) * 100:.0f} %"
            )
            if warm.latencies:
                print(f"warm-up (not measured): {len(warm.latencies):,} requests, {len(warm.errors)} errors")
            if results.unknown or warm.unknown:
                print(f"answered `unknown` (outcome found out later): {len(results.unknown) + len(warm.unknown)}")
            if args.retry_with_keys:
                print(f"requests sent again with their idempotency keys: {results.retries + warm.retries:,}")
            problems = await _verify(
                database_url,
                http,
                okx_url,
                warm.accepted + results.accepted,
                warm.unknown + results.unknown,
                warm.refused + results.refused,
            )
            print("exactly once on both sides: " + ("yes" if not problems else "NO: " + "; ".join(problems)))
    finally:
        if args.pin_service:
            _unpin_postgres()
        for process, _ in services:
            process.terminate()
        simulator.terminate()
        for n, (process, _) in enumerate(services):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"service {n} did not stop within 30 s of SIGTERM (log: {workdir}); killed")
                if os.environ.get("LOAD_DUMP_ON_HANG"):
                    subprocess.run(["py-spy", "dump", "--pid", str(process.pid)], check=False)
                process.kill()
        simulator.wait(timeout=30)
    print(
        f"host speed (a fixed Python loop, ms, median of 5; lower is faster): {speed_before:.0f} before the run, "
        f"{_host_speed_ms():.0f} after"
    )
    if problems or results.errors or warm.errors:
        raise SystemExit(1)


if __name__ == "__main__":
    try:  # as the service (uvicorn) and the simulator do: the clients' own CPU per request is about a third less
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
