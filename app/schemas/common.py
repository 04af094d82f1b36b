"""Shared API types: money as exact decimal strings, timestamps in UTC, and the one error shape."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, WithJsonSchema

__all__ = ["ErrorBody", "ErrorResponse", "Money", "UTCDateTime"]


# No price or size on any exchange needs more: beyond these a value is a mistake (or an attack on the arithmetic).
MAX_INTEGER_DIGITS = 18
MAX_DECIMALS = 18


def _decimal_string(value: Any) -> Decimal:
    """Money comes in as a JSON string ("0.1"): a JSON number would already have gone through a binary float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a decimal number written as a JSON string, e.g. "0.1"')
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError("must be finite")
    digits, exponent = len(number.as_tuple().digits), number.as_tuple().exponent
    if (
        number.adjusted() > MAX_INTEGER_DIGITS
        or (isinstance(exponent, int) and -exponent > MAX_DECIMALS)
        or digits > 40
    ):
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} digits before the point and {MAX_DECIMALS} after")
    return number


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["0.1"]}),
]

UTCDateTime = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json")]


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody
