"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL.

SQLAlchemy's plain `Numeric` on SQLite stores a REAL (a binary float), so `0.1` comes back as
`0.1000000000000000055511151231257827`. `ExactDecimal` is unconstrained `NUMERIC` on PostgreSQL (exact, any
precision) and canonical decimal text on SQLite. On SQLite, therefore, never compare, sort or sum these columns in
SQL: do it in Python (or on PostgreSQL). A float is refused at bind time: a float in a money path is a bug.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["ExactDecimal", "JSONDocument", "UTCDateTime", "str_enum"]


def to_decimal(value: Any) -> Decimal:
    """The one conversion of a bound value to `Decimal`: exact inputs only, finite only."""
    if isinstance(value, bool | float):
        raise TypeError(f"money values must be Decimal, int or str, not {type(value).__name__}: {value!r}")
    result = value if isinstance(value, Decimal) else Decimal(value)
    if not result.is_finite():
        raise ValueError(f"money values must be finite, got {result}")
    return result


_ONE = Decimal(1)


class ExactDecimal(TypeDecorator[Decimal]):
    """A `Decimal` that round-trips exactly, value and scale, on SQLite and PostgreSQL."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = to_decimal(value)
        if dialect.name == "sqlite":
            # Fixed-point text: never exponent notation, so '1E-8' is stored as '0.00000001'.
            return format(number, "f")
        return number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):  # a row written by something else as REAL: refuse to guess
            raise TypeError(f"an exact decimal column holds a float: {value!r}")
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        # asyncpg's binary codec decodes NUMERIC 50000 as Decimal('5E+4'): equal, but it would reach JSON as "5E+4".
        # The service's connections read NUMERIC as text (`db_direct.numerics_as_text`), which does not; any other
        # connection may.
        if number.as_tuple().exponent > 0:  # type: ignore[operator]
            number = number.quantize(_ONE)
        return number

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes; SQLite (which drops the offset) included. Naive values are refused."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def str_enum(enum_cls: type[StrEnum], length: int = 32) -> Enum:
    """Store a `StrEnum` by its value as plain text, so new members need no database-level enum migration."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
