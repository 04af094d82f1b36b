"""Latency of `ExecutionRiskControl.pre_trade_check` (target: p99 below 100 µs).

Every order passes the check on its way to the exchange, so it must cost microseconds. This times N passing checks
(every limit evaluated: the slowest path) and N failing ones, each call on its own with `perf_counter_ns`, in rounds,
and prints p50/p99/max per round and the median over rounds.

Run: `.venv/bin/python benchmarks/risk_check.py [--checks N] [--rounds R]`
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from app.models.trading import OrderSide
from app.services.trading.risk import ExecutionRiskControl, InstrumentRules
from app.services.trading.signal import Account, Signal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    control = ExecutionRiskControl({"max_orders_per_strategy": 10**9})
    control.set_instrument(
        InstrumentRules("BTC-USDT", "BTC", "USDT", Decimal("0.1"), Decimal("0.00000001"), Decimal("0.00001"))
    )
    control.set_price("BTC-USDT", Decimal("50000"))
    account = Account(
        equity=Decimal("100000"),
        available={"USDT": Decimal("100000"), "BTC": Decimal("1")},
        positions={"BTC-USDT": Decimal("0.2")},
    )
    now = datetime.now(UTC)
    passing = Signal(
        strategy_id="bench",
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        size=Decimal("0.01"),
        price=Decimal("50010.5"),
        created_at=now,
        max_age_s=3600,
    )
    failing = Signal(
        strategy_id="bench",
        instrument_id="BTC-USDT",
        side=OrderSide.BUY,
        size=Decimal("0.3"),
        created_at=now,
        max_age_s=3600,
    )
    assert control.pre_trade_check(passing, account).passed
    assert not control.pre_trade_check(failing, account).passed

    print(f"pre_trade_check, {args.checks} calls per case per round, {args.rounds} rounds")
    summary: dict[str, list[tuple[float, float]]] = {"passing": [], "failing (order value)": []}
    for round_number in range(1, args.rounds + 1):
        for name, signal in (("passing", passing), ("failing (order value)", failing)):
            samples = []
            gc.disable()
            for _ in range(args.checks):
                started = time.perf_counter_ns()
                control.pre_trade_check(signal, account)
                samples.append(time.perf_counter_ns() - started)
            gc.enable()
            samples.sort()
            p50, p99 = samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000
            summary[name].append((p50, p99))
            worst = samples[-1] / 1000
            print(f"  round {round_number}  {name:22s} p50 {p50:6.1f} µs  p99 {p99:6.1f} µs  max {worst:8.1f} µs")
    print("median over rounds:")
    for name, rows in summary.items():
        p50 = statistics.median(row[0] for row in rows)
        p99 = statistics.median(row[1] for row in rows)
        verdict = "met" if p99 < 100 else "NOT MET"
        print(f"  {name:22s} p50 {p50:6.1f} µs  p99 {p99:6.1f} µs   target p99 < 100 µs: {verdict}")


if __name__ == "__main__":
    main()
