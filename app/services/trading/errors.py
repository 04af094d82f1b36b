"""Errors of the trading layer; the API maps each to its HTTP answer."""

from __future__ import annotations

from app.services.trading.risk import RiskCheckResult

__all__ = [
    "ExchangeRateLimited",
    "FillsBehind",
    "NotLeader",
    "OrderNotCancelable",
    "OrderNotFound",
    "RiskRejected",
    "TradingError",
    "UnsupportedExecution",
]


class TradingError(Exception):
    pass


class RiskRejected(TradingError):
    """A pre-trade check failed (HTTP 422 with `code`); the `risk_check_failed` event is already recorded."""

    def __init__(self, result: RiskCheckResult, *, order_id: int | None = None) -> None:
        super().__init__(f"{result.code}: {result.reason}")
        self.result = result
        self.order_id = order_id  # the refused order as stored (rejected, with the risk code), if one was
        self.code = str(result.code)
        self.reason = result.reason or ""


class ExchangeRateLimited(TradingError):
    """OKX's order rate limit was used up for longer than the client may wait, so nothing was sent (HTTP 429, retry).
    The order written ahead is closed as `rejected` and its idempotency key released; its ids go back with the
    refusal so that the caller can match its own request to that row. (With the database busy as it is closed,
    the row stays written ahead and keeps the key until the tracker closes it `failed`: a retry with that key
    gets the row back, so send it with a new key.)"""

    def __init__(self, message: str, *, okx_code: str, order_id: int, client_order_id: str) -> None:
        super().__init__(message)
        self.message, self.okx_code = message, okx_code
        self.order_id, self.client_order_id = order_id, client_order_id


class UnsupportedExecution(TradingError):
    """The signal asks for an execution algorithm this service does not run yet (HTTP 422)."""


class OrderNotFound(TradingError):
    pass


class OrderNotCancelable(TradingError):
    """The order is already finished (filled, canceled, rejected, failed, expired)."""


class NotLeader(TradingError):
    """Work that only the leading replica does (executions) was asked of a standby (HTTP 503, retry)."""


class StillStarting(TradingError):
    """A new order refused, nothing written, because this replica has not loaded what its checks read (the
    instruments' rules, prices, the trading state) within the wait: it has just started (HTTP 503, retry)."""


class FillsBehind(TradingError):
    """A new order refused, nothing written, because the fills and positions here stayed behind what the exchange
    has pushed by more than `max_fill_lag_s` while it waited: the risk checks would read a stale view (HTTP 503,
    retry)."""

    def __init__(self, behind_s: float, limit_s: float) -> None:
        super().__init__(
            f"fills and positions are {behind_s:.1f} s behind the exchange (limit {limit_s:g} s), still after "
            "waiting for them to catch up: send the order again later"
        )
        self.behind_s = behind_s
