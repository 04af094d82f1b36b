"""The ASGI application `app.main:app`: settings, database engine and routers, started and stopped in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import health, metrics
from app.api.dashboard import install_dashboard
from app.api.errors import install_error_handlers
from app.api.timing import RequestContext
from app.api.v1 import trading as trading_api
from app.config import Settings, SettingsError, get_settings
from app.db import create_engine, create_session_factory
from app.db_direct import DirectLane
from app.exchange import open_exchange
from app.loop_lag import LoopLagMonitor
from app.services.auth import VerifiedKeys
from app.services.trading.event_feed import EventFeed
from app.services.trading.risk import ExecutionRiskControl
from app.services.trading.runtime import TradingRuntime

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)


SHUTDOWN_STEP_S = 15.0


async def _bounded(name: str, stop: Callable[[], Awaitable[None]]) -> None:
    """One shutdown step, given at most SHUTDOWN_STEP_S: a service must stop when told to, even if a part hangs
    (it is left behind, logged; everything it wrote is already committed or rolled back by the database)."""
    task = asyncio.ensure_future(stop())
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_STEP_S)
    if not done:
        task.cancel()
        log.error("shutdown: the %s did not stop within %.0f s; going on without it", name, SHUTDOWN_STEP_S)
    elif (error := task.exception()) is not None:
        log.error("shutdown: stopping the %s failed: %r", name, error)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=2 * settings.database_pool_size,  # as many as the pool once had with its overflow
            pool_timeout=settings.database_pool_timeout_s,
        )
        app.state.engine = engine
        direct = None
        if engine.dialect.name == "postgresql":
            direct = await DirectLane.open(
                engine, size=settings.database_pool_size, timeout_s=settings.database_pool_timeout_s
            )
        app.state.direct_lane = direct
        app.state.session_factory = create_session_factory(engine, direct=direct)
        exchange = await open_exchange(settings)
        app.state.exchange = exchange
        if settings.okx_orders_over_websocket:
            await exchange.start_order_websocket()
        trading = TradingRuntime(
            exchange.client,
            app.state.session_factory,
            ExecutionRiskControl(settings.risk_config),
            ws_private_url=exchange.ws_private_url,
            dead_man_timeout_s=settings.dead_man_timeout_s if settings.dead_man_enabled else None,
            reconcile_interval_s=settings.reconcile_interval_s,
            max_fill_lag_s=settings.max_fill_lag_s,
        )
        await trading.start()
        app.state.trading = trading
        app.state.event_feed = EventFeed(app.state.session_factory, engine=engine)
        await app.state.event_feed.start()
        loop_lag = LoopLagMonitor()
        loop_lag.start()
        log.info(
            "service started: environment=%s database=%s exchange=%s%s",
            settings.environment.value,
            engine.url.render_as_string(hide_password=True),
            exchange.rest_url,
            " (in-process simulator)" if exchange.simulator is not None else "",
        )
        try:
            yield
        finally:
            for name, stop in (
                ("event-loop lag monitor", loop_lag.stop),
                ("event feed", app.state.event_feed.stop),
                ("trading runtime", trading.stop),
                ("exchange client", exchange.close),
                ("database pool", engine.dispose),
                *([("direct lane", direct.close)] if direct is not None else []),
            ):
                await _bounded(name, stop)

    app = FastAPI(
        title="Trading execution service",
        version="0.1.0",
        summary="Order execution for OKX: orders, fills, positions, risk and analytics.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks, off: this service exports Prometheus metrics (`/metrics`), and with
        # them on, every request asked the OpenTelemetry globals for their providers (~1 % of an order's CPU, py-spy).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.caller_limits = {}
    app.state.verified_keys = VerifiedKeys()
    install_error_handlers(app)
    app.add_middleware(RequestContext)
    # Routes are matched in order, each a regular expression: the order path's first (~40 µs a request less).
    app.include_router(trading_api.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_dashboard(app)
    return app


def _create_default_app() -> FastAPI:
    try:
        return create_app()
    except SettingsError as exc:
        # Refuse to start with the one sentence that says what is missing, not a traceback.
        raise SystemExit(f"Configuration error: {exc}") from None


app = _create_default_app()
