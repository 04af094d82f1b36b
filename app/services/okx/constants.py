"""OKX v5 specifics in one place: hosts, paths and the documented rate limit of each endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "WS_OP_OF_PATH",
    "WS_TRADE_OPS",
    "BATCH_MAX",
    "DEMO_WS_PRIVATE_URL",
    "DEMO_WS_PUBLIC_URL",
    "ENDPOINT_LIMITS",
    "LIVE_REST_URL",
    "LIVE_WS_PRIVATE_URL",
    "LIVE_WS_PUBLIC_URL",
    "ORDER_RATE_CAP",
    "LimitKey",
    "Path",
    "RateLimit",
]

LIVE_REST_URL = "https://www.okx.com"
LIVE_WS_PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
LIVE_WS_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
# Demo trading uses the same REST host with the `x-simulated-trading: 1` header, and its own WebSocket hosts.
DEMO_WS_PUBLIC_URL = "wss://wspap.okx.com:8443/ws/v5/public"
DEMO_WS_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"

# Most orders in one batch place / cancel / amend request.
BATCH_MAX = 20


class Path(StrEnum):
    TIME = "/api/v5/public/time"
    INSTRUMENTS = "/api/v5/public/instruments"
    TICKER = "/api/v5/market/ticker"
    TICKERS = "/api/v5/market/tickers"
    BOOKS = "/api/v5/market/books"
    ORDER = "/api/v5/trade/order"
    BATCH_ORDERS = "/api/v5/trade/batch-orders"
    CANCEL_ORDER = "/api/v5/trade/cancel-order"
    CANCEL_BATCH_ORDERS = "/api/v5/trade/cancel-batch-orders"
    AMEND_ORDER = "/api/v5/trade/amend-order"
    ORDERS_PENDING = "/api/v5/trade/orders-pending"
    ORDERS_HISTORY = "/api/v5/trade/orders-history"
    FILLS = "/api/v5/trade/fills"
    FILLS_HISTORY = "/api/v5/trade/fills-history"
    CANCEL_ALL_AFTER = "/api/v5/trade/cancel-all-after"
    BALANCE = "/api/v5/account/balance"
    POSITIONS = "/api/v5/account/positions"
    ACCOUNT_CONFIG = "/api/v5/account/config"


# The private WebSocket's trading ops and the REST endpoint each stands for: OKX counts both against the same
# rate limits, and answers with the same items (sCode/sMsg per order) in the same envelope.
WS_TRADE_OPS: dict[str, str] = {
    "order": Path.ORDER,
    "batch-orders": Path.BATCH_ORDERS,
    "cancel-order": Path.CANCEL_ORDER,
    "batch-cancel-orders": Path.CANCEL_BATCH_ORDERS,
    "amend-order": Path.AMEND_ORDER,
}
WS_OP_OF_PATH: dict[str, str] = {path: op for op, path in WS_TRADE_OPS.items()}


class LimitKey(StrEnum):
    """What OKX counts a limit per (the account/UID or IP is implicit: one client is one key)."""

    ENDPOINT = "endpoint"
    INSTRUMENT = "instId"
    INSTRUMENT_TYPE = "instType"


@dataclass(frozen=True)
class RateLimit:
    requests: int
    period_s: float
    key: LimitKey = LimitKey.ENDPOINT
    # Batch endpoints count every order of the request, not the request.
    per_item: bool = False


# Documented limits (OKX docs per endpoint; see shared OKX-PROTOCOL.md §4).
ENDPOINT_LIMITS: dict[tuple[str, str], RateLimit] = {
    ("GET", Path.TIME): RateLimit(10, 2),
    ("GET", Path.INSTRUMENTS): RateLimit(20, 2, LimitKey.INSTRUMENT_TYPE),
    ("GET", Path.TICKER): RateLimit(20, 2),
    ("GET", Path.TICKERS): RateLimit(20, 2),
    ("GET", Path.BOOKS): RateLimit(40, 2),
    ("POST", Path.ORDER): RateLimit(60, 2, LimitKey.INSTRUMENT),
    ("POST", Path.CANCEL_ORDER): RateLimit(60, 2, LimitKey.INSTRUMENT),
    ("POST", Path.AMEND_ORDER): RateLimit(60, 2, LimitKey.INSTRUMENT),
    ("POST", Path.BATCH_ORDERS): RateLimit(300, 2, LimitKey.INSTRUMENT, per_item=True),
    ("POST", Path.CANCEL_BATCH_ORDERS): RateLimit(300, 2, LimitKey.INSTRUMENT, per_item=True),
    ("GET", Path.ORDER): RateLimit(60, 2, LimitKey.INSTRUMENT),
    ("GET", Path.ORDERS_PENDING): RateLimit(60, 2),
    ("GET", Path.ORDERS_HISTORY): RateLimit(40, 2),
    ("GET", Path.FILLS): RateLimit(60, 2),
    ("GET", Path.FILLS_HISTORY): RateLimit(10, 2),
    ("POST", Path.CANCEL_ALL_AFTER): RateLimit(1, 1),
    ("GET", Path.BALANCE): RateLimit(10, 2),
    ("GET", Path.POSITIONS): RateLimit(10, 2),
    ("GET", Path.ACCOUNT_CONFIG): RateLimit(5, 2),
}

# Sub-account cap on new and amended orders across all instruments (each batch item counts): 50061 beyond it.
ORDER_RATE_CAP = RateLimit(1000, 2, per_item=True)
ORDER_RATE_CAPPED_PATHS = frozenset({Path.ORDER, Path.BATCH_ORDERS, Path.AMEND_ORDER})
