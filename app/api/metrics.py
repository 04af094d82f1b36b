"""GET /metrics: Prometheus' text format. It needs a read key like the API (positions and PnL are not public);
Prometheus sends it with `authorization: {credentials: <key>}` in the scrape config."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import ReadKey, RuntimeDep, SessionDep
from app.services.trading.metrics import observe_tracker, refresh_gauges
from app.services.trading.position_manager import PositionManager

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(_: ReadKey, session: SessionDep, runtime: RuntimeDep) -> Response:
    observe_tracker(runtime.tracker.status, runtime.leadership.is_leader)
    positions = await PositionManager(session).marked_positions(runtime.risk.prices, include_closed=True)
    await refresh_gauges(session, positions)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
