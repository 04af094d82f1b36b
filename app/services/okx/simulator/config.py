"""The simulator's settings and fault switches (the same names as its CLI flags and `/sim/v1/faults`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from app.services.okx.simulator.instruments import DEFAULT_BALANCES, DEFAULT_INSTRUMENTS, SimInstrument

__all__ = ["SANDBOX_API_KEY", "SANDBOX_PASSPHRASE", "SANDBOX_SECRET_KEY", "Faults", "SimulatorConfig"]

# Fixed, documented sandbox credentials: the simulator and the service in `sim` mode both default to them, so
# neither side needs keys configured. They protect nothing; never reuse them anywhere real.
SANDBOX_API_KEY = "sim-api-key"
SANDBOX_SECRET_KEY = "sim-secret-key"
SANDBOX_PASSPHRASE = "sim-passphrase"


@dataclass
class Faults:
    """Fault injection; 0 turns one off. Applies to OKX's paths only, never to /sim/v1."""

    latency_ms: float = 0.0  # added delay on every REST answer
    error_rate: float = 0.0  # share of requests answered 5xx / 50001 with nothing done
    lose_response_rate: float = 0.0  # share of place/amend/cancel carried out whose answer is then dropped
    ws_drop_interval_s: float = 0.0  # WebSocket connections cut every S seconds
    ws_down: float = 0.0  # 1: the WebSocket service is down (open connections cut, new ones refused with 503)
    push_duplicate_rate: float = 0.0  # share of private pushes sent twice
    push_reorder_rate: float = 0.0  # share of private pushes held back and sent after the next one

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        for name, value in changes.items():
            number = float(value)
            if number < 0 or (name.endswith("_rate") and number > 1) or (name == "ws_down" and number not in (0, 1)):
                bounds = "0 or 1" if name == "ws_down" else "between 0 and 1" if name.endswith("_rate") else ">= 0"
                raise ValueError(f"{name} must be {bounds}")
            setattr(self, name, number)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class SimulatorConfig:
    api_key: str = SANDBOX_API_KEY
    secret_key: str = SANDBOX_SECRET_KEY
    passphrase: str = SANDBOX_PASSPHRASE
    seed: int = 1
    instruments: tuple[SimInstrument, ...] = DEFAULT_INSTRUMENTS
    balances: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    rate_limits: bool = True
    # Seconds between steps of the synthetic price path; 0 = the price moves only through /sim/v1/price.
    tick_interval_s: float = 1.0
    ws_idle_timeout_s: float = 30.0
    # How far a request's OK-ACCESS-TIMESTAMP may be from the simulator's clock before 50102.
    timestamp_tolerance_s: float = 30.0
    # Real seconds per second of a cancel-all-after timeOut (tests compress OKX's 10 s minimum with e.g. 0.01).
    dead_man_time_scale: float = 1.0
    # How long an order canceled without a fill can still be queried and listed in orders-history (OKX: 2 h).
    canceled_retention_s: float = 2 * 3600.0
    faults: Faults = field(default_factory=Faults)
