"""The trading core (DESIGN.md §4–7), importable as the spec's samples do:
`from app.services.trading import TradeExecutor, OrderManager, ExecutionRiskControl, OrderTracker`."""

from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager, OrderParams
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.position_manager import PositionManager
from app.services.trading.recorder import TradeRecorder
from app.services.trading.risk import ExecutionRiskControl, RiskCheckResult, TradingState
from app.services.trading.signal import Account, Signal

__all__ = [
    "Account",
    "ExecutionRiskControl",
    "OrderManager",
    "OrderParams",
    "OrderTracker",
    "PositionManager",
    "RiskCheckResult",
    "Signal",
    "TradeExecutor",
    "TradeRecorder",
    "TradingState",
]
