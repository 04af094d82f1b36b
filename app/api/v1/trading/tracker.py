"""GET /tracker: where the order tracker stands (operators look here first when fills seem late)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.api.deps import ReadKey, RuntimeDep
from app.api.v1.trading.common import ERRORS
from app.schemas.trading import TrackerRead

router = APIRouter(tags=["tracker"])


@router.get("/tracker", response_model=TrackerRead, responses=ERRORS)
async def tracker_status(_: ReadKey, runtime: RuntimeDep) -> TrackerRead:
    return TrackerRead(role=runtime.leadership.role, **asdict(runtime.tracker.status))
