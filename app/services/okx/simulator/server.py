"""`OKXSimulator`: the simulated exchange served over real HTTP and WebSocket (aiohttp), in-process or standalone.

Besides OKX's paths it serves a control API under `/sim/v1` (no OKX signature; it listens only where the simulator
listens, so never expose it): `GET/POST /sim/v1/faults`, `GET /sim/v1/state`, `POST /sim/v1/price`
(`{"instId","px"}`: move the synthetic price, filling what it crosses) and `POST /sim/v1/tick` (`{"steps"}`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from app.services.okx.simulator.config import SimulatorConfig
from app.services.okx.simulator.engine import SimError, SimExchange
from app.services.okx.simulator.instruments import fmt
from app.services.okx.simulator.rest import RestApi
from app.services.okx.simulator.ws import WsHub
from app.tasks import stop_tasks

__all__ = ["OKXSimulator"]

PUBLIC_PUSH_INTERVAL_S = 0.1


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


class OKXSimulator:
    def __init__(self, config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SimulatorConfig()
        self._clock = clock
        self.exchange = SimExchange(
            self.config.instruments,
            self.config.balances,
            seed=self.config.seed,
            canceled_retention_s=self.config.canceled_retention_s,
        )
        self.rest = RestApi(self.exchange, self.config, clock)
        self.ws = WsHub(self.exchange, self.config, clock, trade=self.rest.trade_op)
        self.app = web.Application(client_max_size=2**20)
        self.rest.add_routes(self.app)
        self.ws.add_routes(self.app)
        self.app.router.add_get("/sim/v1/faults", self._get_faults)
        self.app.router.add_post("/sim/v1/faults", self._set_faults)
        self.app.router.add_get("/sim/v1/state", self._state)
        self.app.router.add_post("/sim/v1/price", self._price)
        self.app.router.add_post("/sim/v1/tick", self._tick)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.host = "127.0.0.1"
        self.port = 0
        self.tls = False

    @property
    def faults(self) -> Any:
        return self.config.faults

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_public_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws/v5/public"

    @property
    def ws_private_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws/v5/private"

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen on host:port (0 = a free port, see `.port`) and start the market and fault timers."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
        self.host, self.port, self.tls = host, sock.getsockname()[1], ssl_context is not None
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=ssl_context).start()
        self._tasks = [
            asyncio.create_task(self._every(lambda: self.config.tick_interval_s, self._market_tick), name="sim-ticks"),
            asyncio.create_task(self._every(lambda: PUBLIC_PUSH_INTERVAL_S, self._public_push), name="sim-public"),
            asyncio.create_task(
                self._every(lambda: self.faults.ws_drop_interval_s, self.ws.close_all), name="sim-drops"
            ),
        ]

    async def stop(self) -> None:
        await stop_tasks(self._tasks)
        self._tasks = []
        self.rest.close()
        await self.ws.close_all(code=1001, message=b"Simulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OKXSimulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _every(self, interval: Callable[[], float], action: Callable[[], Any]) -> None:
        """Run `action` every `interval()` seconds; an interval of 0 pauses it (re-read each second)."""
        while True:
            seconds = interval()
            if seconds <= 0:
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(seconds)
            result = action()
            if asyncio.iscoroutine(result):
                await result

    def _market_tick(self) -> None:
        self.exchange.tick(self.now_ms())

    def _public_push(self) -> None:
        self.ws.push_public_all()

    # --- control API ----------------------------------------------------------------------------------------

    async def _get_faults(self, request: web.Request) -> web.Response:
        return _json(self.faults.as_dict())

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of fault names and values")
            self.faults.update(changes)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        if self.faults.ws_down:
            await self.ws.close_all(message=b"WebSocket service unavailable")
        return _json(self.faults.as_dict())

    async def _state(self, request: web.Request) -> web.Response:
        return _json(self.exchange.state())

    async def _price(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            price = Decimal(str(body["px"]))
            if not price.is_finite() or price <= 0:
                raise ValueError("px must be a positive number")
            mid = self.exchange.set_price(str(body["instId"]), price, self.now_ms())
        except SimError as exc:
            return _json({"error": exc.message, "code": exc.code}, 400)
        except (ValueError, KeyError, TypeError, InvalidOperation, json.JSONDecodeError) as exc:
            return _json({"error": f'send {{"instId": ..., "px": ...}}: {exc}'}, 400)
        self.ws.push_public_all()
        return _json({"instId": body["instId"], "px": fmt(mid)})

    async def _tick(self, request: web.Request) -> web.Response:
        """`{"steps": n}` moves every price path n steps now; `{"interval_s": s}` sets the automatic pace
        (0 freezes the market)."""
        try:
            body = await request.json() if request.can_read_body else {}
            if "interval_s" in body:
                interval = float(body["interval_s"])
                if interval < 0:
                    raise ValueError("interval_s must be >= 0")
                self.config.tick_interval_s = interval
                return _json({"interval_s": interval})
            steps = int(body.get("steps", 1))
        except (ValueError, TypeError, AttributeError) as exc:
            return _json({"error": str(exc)}, 400)
        for _ in range(max(0, min(steps, 100_000))):
            self.exchange.tick(self.now_ms())
        self.ws.push_public_all()
        return _json(self.exchange.state()["prices"])
