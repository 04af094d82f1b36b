"""All ORM models, imported here so that `Base.metadata` is complete for Alembic and the tests."""

from app.models.auth import ApiKey
from app.models.base import Base
from app.models.trading import Execution, ExecutionEvent, Order, Position, TrackerLag, Trade, TradeDailySummary

__all__ = [
    "ApiKey",
    "Base",
    "Execution",
    "ExecutionEvent",
    "Order",
    "Position",
    "TrackerLag",
    "Trade",
    "TradeDailySummary",
]
