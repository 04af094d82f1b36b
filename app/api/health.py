"""Liveness and readiness probes; both are open (no API key)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep, ExchangeDep, RuntimeDep, SettingsDep
from app.db import ping

__all__ = ["router"]

router = APIRouter(tags=["health"])

READY_CHECK_TIMEOUT_S = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and serving; touches nothing else."""
    return {"status": "ok"}


async def _check(probe: Awaitable[object]) -> str:
    """ "ok", or why not, within a bounded time so that a probe never hangs."""
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            await probe
        return "ok"
    except TimeoutError:
        return f"no answer within {READY_CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # any failure means "not ready"; its text says why
        return f"unreachable: {type(exc).__name__}: {exc}".strip()


@router.get("/ready", responses={503: {"description": "A dependency is unreachable"}})
async def ready(engine: EngineDep, exchange: ExchangeDep, runtime: RuntimeDep, settings: SettingsDep) -> JSONResponse:
    """The service can do its work: the database and the exchange both answer, and its trading runtime has
    started. `role` says whether this replica leads (runs the order tracker) or stands by."""
    database, exchange_check = await asyncio.gather(
        _check(ping(engine)), _check(exchange.client.public.get_server_time())
    )
    checks: dict[str, Any] = {"database": database, "exchange": exchange_check}
    if not runtime.started.is_set():  # new orders would wait for it (`OrderAdmission`)
        checks["trading"] = "starting: loading the instruments' rules, prices and the trading state"
    if (problem := runtime.tracker_problem(settings.tracker_disconnect_grace_s)) is not None:
        checks["order_tracker"] = problem
    ok = all(value == "ok" for value in checks.values())
    content = {"status": "ready" if ok else "not_ready", "checks": checks, "role": runtime.leadership.role}
    return JSONResponse(status_code=200 if ok else 503, content=content)
