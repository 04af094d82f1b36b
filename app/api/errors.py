"""The one error shape, `{"error": {"code", "message", "details"}}`, and the mapping of every failure onto it.

Bad input is 4xx naming what is wrong, never a 500; a risk refusal is 422 with its code; exchange failures are
502/503 with OKX's code; anything unexpected is a 500 in the same shape, without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.services.okx.errors import OKXError, OKXRateLimitError, OKXServiceUnavailable, OKXTransportError
from app.services.trading.errors import (
    ExchangeRateLimited,
    FillsBehind,
    NotLeader,
    OrderNotCancelable,
    OrderNotFound,
    RiskRejected,
    StillStarting,
    UnsupportedExecution,
)

__all__ = ["APIError", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


class APIError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details, headers


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(status_code=status, content=body, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(part) for part in location)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": _field(tuple(error.get("loc", ()))), "message": error.get("msg", "")} for error in exc.errors()
        ]
        first = details[0] if details else {"field": "", "message": "invalid request"}
        return error_response(422, "validation_error", f"{first['field']}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RiskRejected)
    async def _risk(_: Request, exc: RiskRejected) -> JSONResponse:
        return error_response(422, exc.code, exc.reason, {"risk_check": exc.code, "order_id": exc.order_id})

    @app.exception_handler(UnsupportedExecution)
    async def _unsupported(_: Request, exc: UnsupportedExecution) -> JSONResponse:
        return error_response(
            422, "execution_not_supported", str(exc), [{"field": "execution.algorithm", "message": str(exc)}]
        )

    @app.exception_handler(OrderNotFound)
    async def _not_found(_: Request, exc: OrderNotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(OrderNotCancelable)
    async def _conflict(_: Request, exc: OrderNotCancelable) -> JSONResponse:
        return error_response(409, "order_finished", str(exc))

    @app.exception_handler(FillsBehind)
    async def _fills_behind(_: Request, exc: FillsBehind) -> JSONResponse:
        return error_response(
            503, "fills_behind", str(exc), {"behind_s": round(exc.behind_s, 3)}, headers={"Retry-After": "1"}
        )

    @app.exception_handler(StillStarting)
    async def _still_starting(_: Request, exc: StillStarting) -> JSONResponse:
        return error_response(503, "not_ready", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(NotLeader)
    async def _not_leader(_: Request, exc: NotLeader) -> JSONResponse:
        return error_response(503, "not_leader", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database_busy(_: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
        # Every connection of the pool is in use: answer at once rather than queue without bound.
        return error_response(
            503, "database_busy", "every database connection is in use; retry shortly", headers={"Retry-After": "1"}
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        message = "the database cannot be reached"
        return error_response(503, "database_unavailable", message, headers={"Retry-After": "1"})

    @app.exception_handler(ExchangeRateLimited)
    async def _order_not_sent(_: Request, exc: ExchangeRateLimited) -> JSONResponse:
        # A new order over OKX's limit: nothing sent; the row written ahead is closed as rejected (its ids here).
        details = {"okx_code": exc.okx_code, "order_id": exc.order_id, "client_order_id": exc.client_order_id}
        return error_response(429, "exchange_rate_limited", exc.message, details, {"Retry-After": "1"})

    @app.exception_handler(OKXRateLimitError)
    async def _exchange_rate_limited(_: Request, exc: OKXRateLimitError) -> JSONResponse:
        # OKX's limit for this account (or instrument) is used up; nothing was sent (or OKX processed nothing).
        return error_response(429, "exchange_rate_limited", exc.message, {"okx_code": exc.code}, {"Retry-After": "1"})

    @app.exception_handler(OKXError)
    async def _exchange(_: Request, exc: OKXError) -> JSONResponse:
        unavailable = isinstance(exc, OKXServiceUnavailable | OKXTransportError)
        headers = {"Retry-After": "1"} if unavailable else None
        return error_response(
            503 if unavailable else 502, "exchange_error", exc.message, {"okx_code": exc.code}, headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
