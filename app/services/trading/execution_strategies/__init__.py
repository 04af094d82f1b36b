"""The spec's execution strategies: `from app.services.trading.execution_strategies import MarketExecution`.

MarketExecution, LimitExecution (timeout, fallback to market), TWAPExecution and IcebergExecution (one slice
showing at a time) run as persisted parent executions with an injectable clock and can be canceled. Resume after a
restart and the API are still to come (issue 7).
"""

from app.services.trading.execution_strategies.base import Clock, ExecutionStrategy, SystemClock
from app.services.trading.execution_strategies.strategies import (
    IcebergExecution,
    LimitExecution,
    MarketExecution,
    TWAPExecution,
)

__all__ = [
    "Clock",
    "ExecutionStrategy",
    "IcebergExecution",
    "LimitExecution",
    "MarketExecution",
    "SystemClock",
    "TWAPExecution",
]
