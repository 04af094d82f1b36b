"""The routes under /api/v1/trading."""

from fastapi import APIRouter

from app.api.v1.trading import activity, analytics, executions, orders, positions, signals, stream, tracker

router = APIRouter(prefix="/api/v1/trading")
for module in (orders, positions, activity, analytics, executions, signals, stream, tracker):
    router.include_router(module.router)

__all__ = ["router"]
