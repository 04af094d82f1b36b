"""Order-placement throughput of our `OKXClient` against ccxt's async `okx`, both on the built-in OKX simulator.

Why: `OKXClient` is on the critical path of every order the service places, and ccxt is the reference OKX client
people would use instead. The target is OKXClient ≥ 1.2× ccxt's orders/s, one at a time and with 64 in flight,
and a simulator fast enough (≥ 2000 placements per CPU-second) that it does not hide the difference.

How:
* The simulator runs as its own process (`python -m app.services.okx.simulator --host 127.0.0.1 --port 0
  --no-rate-limit --tick-interval 0`), so it shares neither the GIL nor the event loop with the clients; it is
  terminated at the end, also on error. Only 127.0.0.1 is ever contacted.
* Both clients send the same order: an IOC limit buy of 0.0001 BTC-USDT at 40000 with the market frozen at ~50000,
  so it never fills and never rests (the simulator caps 500 pending orders per instrument), with a unique clOrdId.
  OKXClient sends it to POST /api/v5/trade/order; ccxt (as it always does) to POST /api/v5/trade/batch-orders as a
  one-element array. OKXClient's rate limiter and ccxt's throttle are both off.
* Two modes: sequential (one order at a time) and N in flight (a pool of `--concurrency` workers). The four
  (client, mode) phases are interleaved over `--rounds` rounds with a rotating start, after a warm-up that opens
  the connection pools; the table reports medians over rounds. The client process uses uvloop if installed.
* For each phase it reads the simulator's CPU time from /proc/PID/stat (utime + stime), giving simulator placements
  per CPU-second and the share of wall time the simulator was busy (near 100 % = the simulator is the bottleneck),
  and the client process's own CPU time per order, with the part spent in Python's cyclic garbage collector.
* Correctness: every order must be answered sCode "0" with its clOrdId; errors are counted per phase and printed,
  and the run ends with a loud "BENCHMARK INVALID" banner and exit status 1. At the end GET /sim/v1/state
  cross-checks that the simulator holds exactly the orders each phase placed, as IOC limit buys of 0.0001 at 40000,
  all canceled unfilled.

Run: `.venv/bin/python benchmarks/okx_vs_ccxt.py [--orders N] [--rounds R] [--concurrency 64]` (defaults: about
15 s on 2 cores; needs the bench extra: `.venv/bin/pip install -e '.[bench]'`). Progress goes to stderr, the table
to stdout. `--profile OKXClient|ccxt` instead runs one client's sequential orders under cProfile against the same
separate simulator and prints the top functions (stats saved to `--profile-out`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import ccxt.async_support as ccxt_async  # noqa: E402

from app.services.okx.client import OKXClient  # noqa: E402
from app.services.okx.ratelimit import RateLimiter  # noqa: E402
from app.services.okx.simulator.config import (  # noqa: E402
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
)
from app.services.okx.trade import OrderRequest  # noqa: E402

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The order both clients place: an IOC buy well under the market (~50000), so it is canceled unfilled at once.
INST_ID, SYMBOL = "BTC-USDT", "BTC/USDT"
ORDER_SZ, ORDER_PX = Decimal("0.0001"), Decimal("40000")

TARGET_RATIO = 1.2
TARGET_SIM_PER_CPU_S = 2000.0
WARMUP_SEQUENTIAL = 200
MAX_ERRORS_SHOWN = 5
PROFILE_TOP = 30

CLIENTS = ("OKXClient", "ccxt")
MODES = ("sequential", "concurrent")


# --------------------------------------------------------------------------------------------- simulator process


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    base_url: str

    def cpu_s(self) -> float:
        """utime + stime of the simulator process (all its threads), in seconds."""
        with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
            text = stat.read()
        fields = text[text.rindex(b")") + 2 :].split()  # fields after "pid (comm) ": state is field 3
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 (utime) and 15 (stime)


def _tail(path: str, lines: int = 20) -> str:
    with open(path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])


def _http_get_json(url: str, timeout_s: float = HTTP_TIMEOUT_S) -> Any:
    """GET on loopback, ignoring any proxy variables."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def _read_ready_line(process: subprocess.Popen[bytes], stdout: IO[bytes], deadline: float) -> str:
    """The simulator's one "OKX simulator on http://127.0.0.1:PORT ..." line, within the deadline."""
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            raise RuntimeError("the simulator did not report it was ready")
        readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
        if readable:
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the simulator closed its output before reporting it was ready")
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode()


@contextmanager
def simulator_process() -> Iterator[Simulator]:
    """Start the simulator on a free loopback port, wait until it answers, always stop it."""
    log = tempfile.NamedTemporaryFile(prefix="okx-sim-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "app.services.okx.simulator", "--host", HOST, "--port", "0"]
    command += ["--no-rate-limit", "--tick-interval", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        line = _read_ready_line(process, process.stdout, time.monotonic() + START_TIMEOUT_S)
        prefix = f"OKX simulator on http://{HOST}:"
        if not line.startswith(prefix):
            raise RuntimeError(f"unexpected first line from the simulator: {line!r}")
        port = int(line[len(prefix) :].split()[0].rstrip("/"))
        simulator = Simulator(process, f"http://{HOST}:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # bounded by the deadline
            try:
                if _http_get_json(simulator.base_url + "/api/v5/public/time", timeout_s=2.0)["code"] == "0":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator does not answer GET /api/v5/public/time")
            time.sleep(0.1)
        yield simulator
    except BaseException:
        tail = _tail(log.name)
        if tail:
            print(f"--- simulator log (last lines) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the simulator stops cleanly on SIGTERM
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
        log.close()
        os.unlink(log.name)


# --------------------------------------------------------------------------------------------- clients


PlaceFn = Callable[[str], Awaitable[str | None]]  # places one order with this clOrdId; returns an error or None


def okx_placer(client: OKXClient) -> PlaceFn:
    async def place(cl_ord_id: str) -> str | None:
        request = OrderRequest(
            inst_id=INST_ID,
            td_mode="cash",
            side="buy",
            ord_type="ioc",
            sz=ORDER_SZ,
            px=ORDER_PX,
            cl_ord_id=cl_ord_id,
            tgt_ccy="base_ccy",  # what ccxt sends on every spot order
        )
        ack = await client.trade.place_order(request)  # raises on a refused order
        if ack.s_code != "0" or ack.cl_ord_id != cl_ord_id or not ack.ord_id:
            return f"sCode {ack.s_code} {ack.s_msg!r}, clOrdId {ack.cl_ord_id!r}, ordId {ack.ord_id!r}"
        return None

    return place


def ccxt_placer(exchange: ccxt_async.okx) -> PlaceFn:
    amount, price = float(ORDER_SZ), float(ORDER_PX)

    async def place(cl_ord_id: str) -> str | None:
        params = {"timeInForce": "IOC", "clOrdId": cl_ord_id}  # ccxt sends ordType "ioc"
        order = await exchange.create_order(SYMBOL, "limit", "buy", amount, price, params)  # raises on sCode != 0
        info = order.get("info") or {}
        if info.get("sCode") != "0" or order.get("clientOrderId") != cl_ord_id or not order.get("id"):
            return f"sCode {info.get('sCode')} {info.get('sMsg')!r}, clOrdId {order.get('clientOrderId')!r}"
        return None

    return place


def make_okx_client(base_url: str) -> OKXClient:
    return OKXClient(
        SANDBOX_API_KEY,
        SANDBOX_SECRET_KEY,
        SANDBOX_PASSPHRASE,
        base_url=base_url,
        rate_limiter=RateLimiter(enabled=False),
    )


async def make_ccxt_client(base_url: str) -> ccxt_async.okx:
    exchange = ccxt_async.okx(
        {
            "apiKey": SANDBOX_API_KEY,
            "secret": SANDBOX_SECRET_KEY,
            "password": SANDBOX_PASSPHRASE,
            "enableRateLimit": False,
            "timeout": 10_000,
            "options": {"fetchMarkets": {"types": ["spot", "swap"]}},
        }
    )
    exchange.urls["api"]["rest"] = base_url
    await exchange.load_markets()
    if SYMBOL not in exchange.markets:
        await exchange.close()
        raise RuntimeError(f"ccxt did not load {SYMBOL} from the simulator")
    return exchange


# --------------------------------------------------------------------------------------------- measurement


class GcTimer:
    """Wall time the client process spends in the cyclic garbage collector (via `gc.callbacks`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


GC_TIMER = GcTimer()


@dataclass
class Phase:
    client: str
    mode: str
    round: int
    prefix: str  # clOrdId prefix of this phase's orders
    orders: int
    wall_s: float
    sim_cpu_s: float
    client_cpu_s: float
    client_gc_s: float
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.client} {self.mode} {f'round {self.round}' if self.round else 'warm-up'}"

    @property
    def rate(self) -> float:
        return self.orders / self.wall_s

    @property
    def sim_per_cpu_s(self) -> float:
        return self.orders / self.sim_cpu_s if self.sim_cpu_s > 0 else float("inf")


async def _place_all(place: PlaceFn, ids: list[str], concurrency: int) -> list[str]:
    """Place every clOrdId, at most `concurrency` in flight (1 = sequential); return the errors."""
    errors: list[str] = []
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(ids):
            cl_ord_id = ids[position]
            position += 1
            try:
                error = await place(cl_ord_id)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if error is not None:
                errors.append(f"{cl_ord_id}: {error}")

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(ids))))))
    return errors


async def run_phase(
    simulator: Simulator, client: str, place: PlaceFn, mode: str, round_no: int, n: int, concurrency: int
) -> Phase:
    prefix = f"{'ok' if client == 'OKXClient' else 'cx'}{mode[0]}r{round_no}n"
    ids = [f"{prefix}{i:07d}" for i in range(n)]
    gc.collect()  # every phase starts with the same (empty) garbage
    sim_cpu0, client_cpu0, gc0 = simulator.cpu_s(), time.process_time(), GC_TIMER.seconds
    started = time.perf_counter()
    errors = await _place_all(place, ids, 1 if mode == "sequential" else concurrency)
    wall_s = time.perf_counter() - started
    sim_cpu_s, client_cpu_s = simulator.cpu_s() - sim_cpu0, time.process_time() - client_cpu0
    return Phase(client, mode, round_no, prefix, n, wall_s, sim_cpu_s, client_cpu_s, GC_TIMER.seconds - gc0, errors)


@asynccontextmanager
async def placers(base_url: str) -> AsyncIterator[dict[str, PlaceFn]]:
    """Both clients, ready to place (ccxt's markets loaded); closed on exit."""
    okx_client = make_okx_client(base_url)
    exchange: ccxt_async.okx | None = None
    try:
        exchange = await make_ccxt_client(base_url)
        yield {"OKXClient": okx_placer(okx_client), "ccxt": ccxt_placer(exchange)}
    finally:
        await okx_client.aclose()
        if exchange is not None:
            await exchange.close()


async def benchmark(simulator: Simulator, n: int, rounds: int, concurrency: int) -> tuple[list[Phase], list[Phase]]:
    """Warm-up phases (not in the table, still checked) and the interleaved timed phases."""
    async with placers(simulator.base_url) as place:
        warmups = []
        for client in CLIENTS:  # opens each pool's connections and lets OKXClient sync its clock
            warmups.append(await run_phase(simulator, client, place[client], "sequential", 0, WARMUP_SEQUENTIAL, 1))
            warmups.append(
                await run_phase(simulator, client, place[client], "concurrent", 0, 4 * concurrency, concurrency)
            )
        schedule = [(client, mode) for mode in MODES for client in CLIENTS]
        phases = []
        for round_no in range(1, rounds + 1):
            shift = (round_no - 1) % len(schedule)
            for client, mode in schedule[shift:] + schedule[:shift]:
                phase = await run_phase(simulator, client, place[client], mode, round_no, n, concurrency)
                phases.append(phase)
                print(
                    f"  round {round_no}/{rounds}  {client:<9} {mode:<10} {phase.rate:8.0f} orders/s"
                    f"  sim {phase.sim_per_cpu_s:6.0f}/CPU-s  errors {len(phase.errors)}",
                    file=sys.stderr,
                    flush=True,
                )
        return warmups, phases


async def profile(simulator: Simulator, client: str, n: int, out: str) -> list[Phase]:
    """cProfile of one client placing n orders one at a time (after a warm-up); prints the top functions."""
    async with placers(simulator.base_url) as place:
        warmup = await run_phase(simulator, client, place[client], "sequential", 0, WARMUP_SEQUENTIAL, 1)
        profiler = cProfile.Profile()
        profiler.enable()
        phase = await run_phase(simulator, client, place[client], "sequential", 1, n, 1)
        profiler.disable()
    profiler.dump_stats(out)
    print(f"{client}, {n} sequential orders under cProfile: {phase.rate:.0f} orders/s; saved to {out}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(PROFILE_TOP)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(PROFILE_TOP)
    return [warmup, phase]


# --------------------------------------------------------------------------------------------- checks and report


def cross_check(simulator: Simulator, phases: list[Phase]) -> list[str]:
    """Compare the simulator's own record with what each phase placed; return the discrepancies."""
    state = _http_get_json(simulator.base_url + "/sim/v1/state")
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    prefixes = {phase.prefix for phase in phases}
    for order in state["orders"]:
        cl_ord_id = order.get("clOrdId", "")
        prefix = cl_ord_id[: cl_ord_id.index("n") + 1] if "n" in cl_ord_id else cl_ord_id
        if prefix in prefixes:
            by_prefix.setdefault(prefix, []).append(order)
    expected = {
        "instId": INST_ID,
        "side": "buy",
        "ordType": "ioc",
        "tdMode": "cash",
        "px": str(ORDER_PX),
        "sz": str(ORDER_SZ),
        "state": "canceled",
        "accFillSz": "0",
    }
    problems = []
    for phase in phases:
        orders = by_prefix.get(phase.prefix, [])
        accepted = phase.orders - len(phase.errors)
        unique = len({order["clOrdId"] for order in orders})
        if len(orders) != accepted or unique != accepted:
            problems.append(
                f"{phase.label}: simulator holds {len(orders)} orders "
                f"({unique} clOrdIds), the client saw {accepted} accepted"
            )
        mismatches: Counter[str] = Counter(
            f"{key}={order.get(key)!r}"
            for order in orders
            for key, value in expected.items()
            if order.get(key) != value
        )
        if mismatches:
            problems.append(f"{phase.label}: unexpected {dict(mismatches)}")
    stray = [order for order in state["orders"] if order.get("state") in ("live", "partially_filled")]
    if stray:
        problems.append(f"{len(stray)} orders left pending on the simulator")
    return problems


def report(phases: list[Phase], n: int, rounds: int, concurrency: int) -> dict[str, bool]:
    """Print the table; return which targets were met."""

    def select_(client: str | None, mode: str) -> list[Phase]:
        return [p for p in phases if p.mode == mode and (client is None or p.client == client)]

    label = {"sequential": "sequential", "concurrent": f"{concurrency} in flight"}
    print()
    print(f"Order placement on the OKX simulator: {n} orders per phase, median of {rounds} rounds (min–max)")
    print()
    header = (
        f"{'mode':<13} {'client':<10} {'orders/s':>9} {'range':>13} {'client CPU':>11} {'of it GC':>9} "
        f"{'sim CPU':>9} {'sim/CPU-s':>10} {'sim busy':>9}"
    )
    print(header)
    print(f"{'':<13} {'':<10} {'':>9} {'':>13} {'µs/order':>11} {'µs/order':>9} {'µs/order':>9} {'':>10} {'% wall':>9}")
    print("-" * len(header))
    ratios: dict[str, float] = {}
    for mode in MODES:
        rates = {}
        for client in CLIENTS:
            ps = select_(client, mode)
            rates[client] = statistics.median([p.rate for p in ps])
            lo, hi = min(p.rate for p in ps), max(p.rate for p in ps)
            print(
                f"{label[mode]:<13} {client:<10} {rates[client]:>9.0f} {f'{lo:.0f}–{hi:.0f}':>13} "
                f"{statistics.median([p.client_cpu_s / p.orders * 1e6 for p in ps]):>11.0f} "
                f"{statistics.median([p.client_gc_s / p.orders * 1e6 for p in ps]):>9.0f} "
                f"{statistics.median([p.sim_cpu_s / p.orders * 1e6 for p in ps]):>9.0f} "
                f"{statistics.median([p.sim_per_cpu_s for p in ps]):>10.0f} "
                f"{statistics.median([p.sim_cpu_s / p.wall_s * 100 for p in ps]):>8.0f}%"
            )
        ratios[mode] = rates["OKXClient"] / rates["ccxt"]
        per_round = [
            a.rate / b.rate for a in select_("OKXClient", mode) for b in select_("ccxt", mode) if a.round == b.round
        ]
        print(
            f"{'':<13} {'ratio':<10} {ratios[mode]:>8.2f}x {f'{min(per_round):.2f}–{max(per_round):.2f}':>13}"
            f"   OKXClient/ccxt (target ≥ {TARGET_RATIO})"
        )
        print("-" * len(header))
    sim_rate = statistics.median([p.sim_per_cpu_s for p in phases])
    sim_busy = statistics.median([p.sim_cpu_s / p.wall_s for p in phases]) * 100
    print(
        f"simulator: {sim_rate:.0f} placements per CPU-second over all phases (target ≥ {TARGET_SIM_PER_CPU_S:.0f}), "
        f"busy {sim_busy:.0f}% of wall time (median)"
    )
    met = {
        f"OKXClient/ccxt sequential ≥ {TARGET_RATIO}": ratios["sequential"] >= TARGET_RATIO,
        f"OKXClient/ccxt {concurrency} in flight ≥ {TARGET_RATIO}": ratios["concurrent"] >= TARGET_RATIO,
        f"simulator ≥ {TARGET_SIM_PER_CPU_S:.0f} placements/CPU-s": sim_rate >= TARGET_SIM_PER_CPU_S,
    }
    print()
    for name, ok in met.items():
        print(f"  target {name}: {'met' if ok else 'NOT MET'}")
    return met


def report_correctness(phases: list[Phase], problems: list[str]) -> bool:
    """Print the error count and cross-check; a run with either prints a loud banner. True when clean."""
    errors = sum(len(phase.errors) for phase in phases)
    print()
    print(
        f"correctness: {sum(phase.orders for phase in phases)} orders placed, {errors} errors; "
        f"simulator cross-check: {'OK' if not problems else f'{len(problems)} problem(s)'}"
    )
    if not errors and not problems:
        return True
    print()
    print("!" * 100)
    print(f"!!! BENCHMARK INVALID: {errors} order errors, {len(problems)} cross-check problems")
    for phase in phases:
        if phase.errors:
            kinds = Counter(error.split(": ", 1)[1].split(":")[0] for error in phase.errors)
            print(f"!!! {phase.label}: {len(phase.errors)} errors {dict(kinds)}")
            for error in phase.errors[:MAX_ERRORS_SHOWN]:
                print(f"!!!     {error}")
    for problem in problems:
        print(f"!!! cross-check: {problem}")
    print("!" * 100)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per client, mode and round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=64, help="orders in flight in concurrent mode (default 64)")
    parser.add_argument(
        "--profile",
        choices=CLIENTS,
        help="instead of the benchmark: cProfile CLIENT placing --orders orders one by one",
    )
    parser.add_argument("--profile-out", default="/tmp/okx_vs_ccxt.prof", help="where --profile saves its stats")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.rounds < 1 or args.concurrency < 1:
        parser.error("--orders, --rounds and --concurrency must be positive")

    try:
        import uvloop

        loop_name, runner = f"uvloop {uvloop.__version__}", uvloop.run
    except ImportError:
        loop_name, runner = "asyncio", asyncio.run
    print(
        f"OKXClient vs ccxt {ccxt_async.__version__} | Python {sys.version.split()[0]} | client loop: {loop_name} | "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )

    started = time.monotonic()
    gc.callbacks.append(GC_TIMER)
    try:
        with simulator_process() as simulator:
            print(f"simulator pid {simulator.process.pid} on {simulator.base_url}", file=sys.stderr, flush=True)
            if args.profile:
                phases = runner(profile(simulator, args.profile, args.orders, args.profile_out))
                return 0 if report_correctness(phases, cross_check(simulator, phases)) else 1
            warmups, phases = runner(benchmark(simulator, args.orders, args.rounds, args.concurrency))
            problems = cross_check(simulator, warmups + phases)
    finally:
        gc.callbacks.remove(GC_TIMER)

    report(phases, args.orders, args.rounds, args.concurrency)
    clean = report_correctness(warmups + phases, problems)
    print(f"run took {time.monotonic() - started:.0f} s")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
