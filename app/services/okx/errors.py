"""Every error the OKX client raises, in one tree, with OKX's code and message on each.

Callers branch on the class (rate limited, insufficient balance, order already finished, …) and read `.code` /
`.message` for the record. `OKXOutcomeUnknown` is apart from the rest on purpose: a place or amend whose answer
was lost (or that OKX answered with 50004) may or may not have happened, and the only safe next step is to
reconcile by clOrdId, never to send it again.
"""

from __future__ import annotations

__all__ = [
    "OKXAPIError",
    "OKXAuthError",
    "OKXDuplicateClientOrderId",
    "OKXError",
    "OKXInstrumentNotFound",
    "OKXInsufficientBalance",
    "OKXInvalidOrder",
    "OKXInvalidSignature",
    "OKXOrderAlreadyFinished",
    "OKXOrderNotFound",
    "OKXOutcomeUnknown",
    "OKXParameterError",
    "OKXRateLimitError",
    "OKXRateLimitWaitExceeded",
    "OKXRequestExpired",
    "OKXServiceUnavailable",
    "OKXTimestampExpired",
    "OKXTransportError",
    "error_for_code",
]


class OKXError(Exception):
    """Base of everything the OKX client raises."""

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(f"OKX {code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.http_status = http_status


class OKXTransportError(OKXError):
    """No usable answer (connection, timeout, non-JSON body) for a request that is safe to repeat."""


class OKXOutcomeUnknown(OKXError):
    """A place/amend may or may not have reached the matching engine: reconcile by clOrdId, never resend."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        client_order_id: str | None = None,
        exp_time_ms: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.client_order_id = client_order_id
        self.exp_time_ms = exp_time_ms


class OKXAPIError(OKXError):
    """OKX answered with a non-zero `code` (or a per-item `sCode`)."""


class OKXServiceUnavailable(OKXAPIError):
    """50001 / 50013 / 50026 / HTTP 5xx: the exchange is down or busy; nothing was done."""


class OKXRateLimitError(OKXAPIError):
    """50011 (or 50061, the sub-account order-rate cap): too many requests."""


class OKXRateLimitWaitExceeded(OKXRateLimitError):
    """Refused here, before sending: OKX's limit is used up for longer than the client may wait (not retried)."""


class OKXAuthError(OKXAPIError):
    """501xx: the request was not authenticated (key, passphrase, IP, environment)."""


class OKXInvalidSignature(OKXAuthError):
    """50113."""


class OKXTimestampExpired(OKXAuthError):
    """50102: our timestamp is too far from OKX's clock."""


class OKXParameterError(OKXAPIError):
    """50000/50002/50014/51000/…: the request itself is malformed."""


class OKXRequestExpired(OKXAPIError):
    """50037 (and 50036): the request reached OKX after its `expTime`, so OKX did not process it."""


class OKXInstrumentNotFound(OKXParameterError):
    """51001: instId does not exist."""


class OKXInvalidOrder(OKXAPIError):
    """The order breaks an exchange rule (size below minSz, not a lot multiple, price outside limits, …)."""


class OKXInsufficientBalance(OKXAPIError):
    """51008 / 51119 / 51131 / 51502."""


class OKXDuplicateClientOrderId(OKXAPIError):
    """51016 (and 51011 for ordId): an order with this clOrdId is already pending."""


class OKXOrderNotFound(OKXAPIError):
    """51603: no such order."""


class OKXOrderAlreadyFinished(OKXAPIError):
    """51400–51402, 51503, 51509: cancel/amend refused because the order is filled, canceled (or gone)."""


_CLASS_BY_CODE: dict[str, type[OKXAPIError]] = {
    "50001": OKXServiceUnavailable,
    "50013": OKXServiceUnavailable,
    "50026": OKXServiceUnavailable,
    # OKX's own timeouts (HTTP 500, "… timed out. Please try again."): the request may or may not have been
    # carried out, so a place/amend is outcome unknown (client.OUTCOME_UNKNOWN_CODES), anything else retried.
    "51054": OKXServiceUnavailable,
    "51149": OKXServiceUnavailable,
    "51412": OKXServiceUnavailable,
    "50011": OKXRateLimitError,
    "50061": OKXRateLimitError,
    "50102": OKXTimestampExpired,
    "50113": OKXInvalidSignature,
    "50000": OKXParameterError,
    "50002": OKXParameterError,
    "50014": OKXParameterError,
    "51000": OKXParameterError,
    "51003": OKXParameterError,
    "51407": OKXParameterError,
    "50036": OKXRequestExpired,
    "50037": OKXRequestExpired,
    "51001": OKXInstrumentNotFound,
    "51008": OKXInsufficientBalance,
    "51119": OKXInsufficientBalance,
    "51131": OKXInsufficientBalance,
    "51502": OKXInsufficientBalance,
    "51011": OKXDuplicateClientOrderId,
    "51016": OKXDuplicateClientOrderId,
    "51603": OKXOrderNotFound,
    "51400": OKXOrderAlreadyFinished,
    "51401": OKXOrderAlreadyFinished,
    "51402": OKXOrderAlreadyFinished,
    "51503": OKXOrderAlreadyFinished,
    "51509": OKXOrderAlreadyFinished,
}


def _class_for(code: str) -> type[OKXAPIError]:
    if code in _CLASS_BY_CODE:
        return _CLASS_BY_CODE[code]
    if code.isdigit():
        number = int(code)
        if 50100 <= number <= 50199:
            return OKXAuthError
        if 51004 <= number <= 51299:  # order-rule violations (minSz, lotSz, price limits, …)
            return OKXInvalidOrder
    return OKXAPIError


def error_for_code(code: str, message: str, *, http_status: int | None = None) -> OKXAPIError:
    """The exception for an OKX error code (top-level `code` or per-item `sCode`)."""
    return _class_for(code)(message or f"error {code}", code=code, http_status=http_status)
