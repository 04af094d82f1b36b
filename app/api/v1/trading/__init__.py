"""The routes under /api/v1/trading."""

from fastapi import APIRouter

from app.api.v1.trading import activity, analytics, executions, orders, positions, signals, stream, tracker

router = APIRouter(prefix="/api/v1/trading")
# Matched in this order (no two modules' paths overlap): the hot ones, placing orders and signals, first.
for module in (orders, signals, positions, activity, analytics, executions, stream, tracker):
    router.include_router(module.router)

__all__ = ["router"]
