"""What the trading routers share: documented error responses, cursor pagination, idempotency."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Path, Query
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.schemas.common import ErrorResponse

__all__ = ["ERRORS", "MAX_LIMIT", "Cursor", "IdFilter", "Limit", "OrderId", "fetch_page", "fingerprint", "scoped_key"]

MAX_LIMIT = 500
MAX_ID = 2**63 - 1  # ids are 64-bit: anything larger cannot exist and must not reach the database

OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="the order's internal id")]
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no API key, or an invalid or revoked one"),
    403: _error("the API key lacks the scope this route needs"),
    422: _error("invalid input (the field is named), or a risk check refused the order (its code)"),
    429: _error("this API key sent too many requests; see Retry-After"),
}
EXCHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    502: _error("the exchange refused or failed the request (OKX's code in details)"),
    503: _error("the exchange is unavailable or rate limited; see Retry-After"),
}
# A new order's: also refused while the fills here are behind the exchange (`MAX_FILL_LAG_S`).
PLACING_ERRORS: dict[int | str, dict[str, Any]] = {
    **EXCHANGE_ERRORS,
    503: _error(
        "the exchange is unavailable or rate limited, the database is busy, or the fills and positions here are "
        "behind the exchange by more than MAX_FILL_LAG_S (`fills_behind`); see Retry-After"
    ),
}


async def fetch_page(
    session: AsyncSession, query: Select[Any], id_column: InstrumentedAttribute[int], cursor: int | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page, newest first, and the cursor of the next (None at the end). Stable under inserts: the cursor is
    the last id of the page, and the next page is what is older."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = (await session.execute(query.order_by(id_column.desc()).limit(limit + 1))).scalars().all()
    items = list(rows[:limit])
    return items, str(items[-1].id) if len(rows) > limit else None


def scoped_key(api_key_id: int, key: str | None) -> str | None:
    """Idempotency keys are per API key: two callers can never see each other's orders through one."""
    return f"{api_key_id}:{key}" if key else None


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
