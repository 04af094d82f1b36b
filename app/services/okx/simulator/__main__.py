"""`python -m app.services.okx.simulator`: the simulated OKX exchange on its own, for any OKX client.

Example: `python -m app.services.okx.simulator --host 127.0.0.1 --port 8081 --seed 7 --error-rate 0.01`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl

from app.heap import freeze_what_stays, settle_heap
from app.services.okx.simulator.config import (
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
    Faults,
    SimulatorConfig,
)
from app.services.okx.simulator.instruments import EXTRA_SPOT_INSTRUMENTS, extra_spot_balances
from app.services.okx.simulator.server import OKXSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.services.okx.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic market (same seed, same fills)")
    parser.add_argument("--api-key", default=SANDBOX_API_KEY)
    parser.add_argument("--secret-key", default=SANDBOX_SECRET_KEY)
    parser.add_argument("--passphrase", default=SANDBOX_PASSPHRASE)
    parser.add_argument("--tick-interval", type=float, default=1.0, help="seconds between price steps (0 = frozen)")
    parser.add_argument("--no-rate-limit", action="store_true", help="do not answer 50011 (benchmarks)")
    parser.add_argument(
        "--many-instruments", action="store_true", help="add 20 spot pairs (SOL-USDT, XRP-USDT, …) for load tests"
    )
    parser.add_argument("--tls-cert", help="serve https/wss with this certificate (PEM)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    for name in Faults.__dataclass_fields__:
        flag = "--" + name.removesuffix("_s").replace("_", "-")  # ws_drop_interval_s -> --ws-drop-interval
        parser.add_argument(flag, dest=name, type=float, default=0.0, help=f"fault: {name} (see README)")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    faults = Faults()
    faults.update({name: getattr(args, name) for name in Faults.__dataclass_fields__})
    config = SimulatorConfig(
        api_key=args.api_key,
        secret_key=args.secret_key,
        passphrase=args.passphrase,
        seed=args.seed,
        rate_limits=not args.no_rate_limit,
        tick_interval_s=args.tick_interval,
        faults=faults,
    )
    if args.many_instruments:
        config.instruments = (*config.instruments, *EXTRA_SPOT_INSTRUMENTS)
        config.balances = {**config.balances, **extra_spot_balances()}
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    simulator = OKXSimulator(config)
    await simulator.start(args.host, args.port, ssl_context=ssl_context)
    # As in the service (`app.heap`): no collection pauses that a real exchange would not have in the latencies it
    # is used to measure.
    settle_heap()
    freezing = asyncio.create_task(freeze_what_stays(), name="sim-freeze")
    print(f"OKX simulator on {simulator.rest_url} (WebSocket {simulator.ws_private_url}, control /sim/v1)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    freezing.cancel()
    await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    try:
        import uvloop

        uvloop.run(_serve(args))
    except ImportError:
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
