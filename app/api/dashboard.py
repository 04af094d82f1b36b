"""GET /dashboard: the operations page (app/dashboard: one HTML file, one script, one stylesheet; no CDN, no build).

The page itself is open, like /docs: it holds no data. It asks for an API key and reads everything through the
API and the event stream with that key."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_dashboard"]

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(ASSETS / "index.html", headers={"Cache-Control": "no-cache"})


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/dashboard/assets", StaticFiles(directory=ASSETS), name="dashboard-assets")
