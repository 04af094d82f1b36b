"""/performance and /statistics: what operations read every day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime

from app.api.deps import ReadKey, SessionDep, SettingsDep
from app.api.errors import APIError
from app.api.v1.trading.common import ERRORS
from app.schemas.common import Money
from app.schemas.trading import DailyPointRead, PerformanceRead, StatisticsRead
from app.services.trading.execution_statistics import calculate_statistics
from app.services.trading.recorder import TradeRecorder

router = APIRouter(tags=["performance"])

DEFAULT_RANGE = timedelta(days=30)


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    if end <= start:
        raise APIError(
            422, "validation_error", "end must be after start", [{"field": "end", "message": "not after start"}]
        )
    if end - start > timedelta(days=3660):
        raise APIError(
            422,
            "validation_error",
            "the range may span at most 10 years",
            [{"field": "start", "message": "range too long"}],
        )
    return start, end


@router.get("/performance", response_model=PerformanceRead, responses=ERRORS)
async def performance(
    _: ReadKey,
    session: SessionDep,
    settings: SettingsDep,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    strategy_id: str | None = None,
    instrument_id: str | None = None,
    initial_capital: Money | None = None,
) -> Any:
    """Performance over [start, end) (default: the last 30 days), optionally for one strategy or instrument."""
    start, end = _range(start, end)
    if initial_capital is not None and initial_capital <= 0:
        raise APIError(
            422,
            "validation_error",
            "initial_capital must be positive",
            [{"field": "initial_capital", "message": "not positive"}],
        )
    metrics = await TradeRecorder(session, initial_capital=settings.initial_capital).calculate_performance(
        start, end, strategy_id=strategy_id, instrument_id=instrument_id, initial_capital=initial_capital
    )
    return PerformanceRead(
        **{name: getattr(metrics, name) for name in PerformanceRead.model_fields if name != "daily"},
        daily=[DailyPointRead(day=p.day.isoformat(), pnl=p.pnl, equity=p.equity) for p in metrics.daily],
    )


@router.get("/statistics", response_model=StatisticsRead, responses=ERRORS)
async def statistics(
    _: ReadKey, session: SessionDep, start: AwareDatetime | None = None, end: AwareDatetime | None = None
) -> Any:
    """Execution statistics of the orders created in [start, end): overall, by instrument, by strategy."""
    start, end = _range(start, end)
    return await calculate_statistics(session, start, end)
