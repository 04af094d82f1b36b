"""Liveness and readiness probes; both are open (no API key)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep
from app.db import ping

__all__ = ["router"]

router = APIRouter(tags=["health"])

READY_CHECK_TIMEOUT_S = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and serving; touches nothing else."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "A dependency is unreachable"}})
async def ready(engine: EngineDep) -> JSONResponse:
    """The service can do its work: the database answers (within a bounded time, so a probe never hangs)."""
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(ping(engine), timeout=READY_CHECK_TIMEOUT_S)
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = f"no answer within {READY_CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # any driver error means "not ready"; its text says why
        checks["database"] = f"unreachable: {type(exc).__name__}: {exc}".strip()
    ok = all(value == "ok" for value in checks.values())
    content = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONResponse(status_code=200 if ok else 503, content=content)
