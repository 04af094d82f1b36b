"""A simulated exchange that speaks OKX v5 on the wire (REST + WebSocket), for `ENVIRONMENT=sim` and the tests.

It imports nothing from the trading services: any OKX client (ours, ccxt, python-okx) can trade against it.
"""

from app.services.okx.simulator.config import (
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
    Faults,
    SimulatorConfig,
)
from app.services.okx.simulator.server import OKXSimulator

__all__ = ["SANDBOX_API_KEY", "SANDBOX_PASSPHRASE", "SANDBOX_SECRET_KEY", "Faults", "OKXSimulator", "SimulatorConfig"]
