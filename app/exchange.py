"""The exchange connection the service runs on, chosen by the settings (DESIGN.md §2).

`sim` without `OKX_REST_URL`: the built-in simulator starts in-process on a free loopback port and the client talks
to it over real HTTP/WebSocket, with the sandbox credentials both sides default to. `sim` with `OKX_REST_URL`: a
simulator elsewhere (another process). `demo` / `live`: OKX itself (demo adds `x-simulated-trading: 1` and uses
the demo WebSocket hosts). Nothing else in the code branches on the environment.

The service (not the CLI) also opens the private WebSocket that carries its orders (`start_order_websocket`,
unless `OKX_ORDERS_OVER_WEBSOCKET=false`): one per replica, apart from the order tracker's, so that an answer to an
order never waits behind the pushes the tracker is applying.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.config import Environment, Settings
from app.services.okx.client import OKXClient
from app.services.okx.constants import (
    DEMO_WS_PRIVATE_URL,
    DEMO_WS_PUBLIC_URL,
    LIVE_REST_URL,
    LIVE_WS_PRIVATE_URL,
    LIVE_WS_PUBLIC_URL,
)
from app.services.okx.ratelimit import RateLimiter
from app.services.okx.simulator import (
    SANDBOX_API_KEY,
    SANDBOX_PASSPHRASE,
    SANDBOX_SECRET_KEY,
    OKXSimulator,
    SimulatorConfig,
)
from app.services.okx.websocket import OKXWebSocket, WSError, WSEvent

__all__ = ["ExchangeConnection", "open_exchange"]

log = logging.getLogger(__name__)


async def _log_errors(event: WSEvent) -> None:
    if isinstance(event, WSError):
        log.warning("the orders' WebSocket: OKX error %s: %s", event.code, event.message)


@dataclass
class ExchangeConnection:
    client: OKXClient
    rest_url: str
    ws_public_url: str
    ws_private_url: str
    simulator: OKXSimulator | None = None
    order_websocket: OKXWebSocket | None = None

    async def start_order_websocket(self) -> None:
        """Connect the WebSocket that carries orders (in the background: until it is up, orders go by REST)."""
        if self.order_websocket is None and self.client.credentials is not None:
            self.order_websocket = OKXWebSocket(
                self.ws_private_url,
                credentials=self.client.credentials,
                clock=self.client.now_s,
                on_event=_log_errors,
                compress=False,  # answers of a few hundred bytes: compressing them costs CPU and saves nothing
            )
            self.client.send_orders_over(self.order_websocket)
            await self.order_websocket.start()

    async def close(self) -> None:
        if self.order_websocket is not None:
            self.client.send_orders_over(None)
            await self.order_websocket.close()
        await self.client.aclose()
        if self.simulator is not None:
            await self.simulator.stop()


def _secret(value: object, default: str) -> str:
    return value.get_secret_value() if value is not None else default  # type: ignore[attr-defined]


async def open_exchange(settings: Settings) -> ExchangeConnection:
    simulator: OKXSimulator | None = None
    if settings.environment is Environment.SIM:
        if settings.okx_rest_url is None:
            simulator = OKXSimulator(SimulatorConfig())
            await simulator.start("127.0.0.1", 0)
            rest_url, ws_public, ws_private = simulator.rest_url, simulator.ws_public_url, simulator.ws_private_url
        else:
            rest_url = settings.okx_rest_url
            base = rest_url.replace("https://", "wss://").replace("http://", "ws://")
            ws_public, ws_private = f"{base}/ws/v5/public", f"{base}/ws/v5/private"
        api_key = settings.okx_api_key.get_secret_value() if settings.okx_api_key else SANDBOX_API_KEY
        secret_key = _secret(settings.okx_secret_key, SANDBOX_SECRET_KEY)
        passphrase = _secret(settings.okx_passphrase, SANDBOX_PASSPHRASE)
    else:
        demo = settings.environment is Environment.DEMO
        rest_url = settings.okx_rest_url or LIVE_REST_URL
        ws_public = DEMO_WS_PUBLIC_URL if demo else LIVE_WS_PUBLIC_URL
        ws_private = DEMO_WS_PRIVATE_URL if demo else LIVE_WS_PRIVATE_URL
        # The settings refuse live/demo without the three credentials, so they are present here.
        api_key = settings.okx_api_key.get_secret_value() if settings.okx_api_key else ""
        secret_key = _secret(settings.okx_secret_key, "")
        passphrase = _secret(settings.okx_passphrase, "")
    client = OKXClient(
        api_key=api_key,
        secret_key=secret_key,
        passphrase=passphrase,
        base_url=rest_url,
        demo=settings.environment is Environment.DEMO,
        rate_limiter=RateLimiter(share=settings.okx_rate_limit_share),
    )
    return ExchangeConnection(
        client=client,
        rest_url=rest_url,
        ws_public_url=settings.okx_ws_public_url or ws_public,
        ws_private_url=settings.okx_ws_private_url or ws_private,
        simulator=simulator,
    )
