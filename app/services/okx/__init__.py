"""The one way the service talks to an exchange: OKX v5 REST + WebSocket (OKX itself, or the simulator)."""

from app.services.okx.client import OKXClient, RetryPolicy
from app.services.okx.errors import OKXError, OKXOutcomeUnknown
from app.services.okx.trade import AmendRequest, CancelRequest, OKXTrade, OrderRequest

__all__ = [
    "AmendRequest",
    "CancelRequest",
    "OKXClient",
    "OKXError",
    "OKXOutcomeUnknown",
    "OKXTrade",
    "OrderRequest",
    "RetryPolicy",
]
