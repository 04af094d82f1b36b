"""Plain-text tables for a person at a terminal: a header, a rule, aligned columns (numbers to the right)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum

__all__ = ["cell", "render"]


def cell(value: object) -> str:
    """Exact decimals as written (no exponent), times to the second in UTC, enums by value, nothing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _numeric(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def render(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    texts = [[cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in texts)]) for i, header in enumerate(headers)]
    right = [bool(texts) and all(_numeric(row[i]) or row[i] == "-" for row in texts) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        columns = zip(values, widths, right, strict=True)
        return "  ".join(v.rjust(width) if align else v.ljust(width) for v, width, align in columns).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in texts)])
