"""The spec's execution strategies: `from app.services.trading.execution_strategies import MarketExecution`.

MarketExecution, LimitExecution (timeout, fallback to market) and TWAPExecution run as persisted parent executions
with an injectable clock; IcebergExecution, cancellation and resume after a restart are still to come (issue 7).
"""

from app.services.trading.execution_strategies.base import Clock, ExecutionStrategy, SystemClock
from app.services.trading.execution_strategies.strategies import LimitExecution, MarketExecution, TWAPExecution

__all__ = ["Clock", "ExecutionStrategy", "LimitExecution", "MarketExecution", "SystemClock", "TWAPExecution"]
