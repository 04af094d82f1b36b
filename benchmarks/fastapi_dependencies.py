"""What FastAPI's dependency solving costs per request: the order routes' dependencies apart (`TradeKey`,
`SessionDep`, `ExecutorDep`, `RuntimeDep`: seven solved, one a generator) against one as a generator (`TradingDep`
until 2026-11-29 23:55) and one plain `async def` whose session is closed by the request's middleware (`TradingDep`
since, `app.api.timing.close_after_request`).

Three apps with the same route shape (a JSON body, a response, a header) and stand-ins for the work (a SHA-256 of
the key, a session object that is opened and closed), called in-process through ASGI, so only the framework's own
cost differs (the plain one's closing, done by the middleware in the service, is left out: an `await` per request).
CPU per request (`time.process_time`) over N calls, in rounds alternating them; the median round.

Run: `.venv/bin/python benchmarks/fastapi_dependencies.py [--requests 5000] [--rounds 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

KEYS: dict[str, object] = {}
_bearer = HTTPBearer(auto_error=False)


class Body(BaseModel):
    instrument_id: str
    side: str
    size: str


class Session:
    async def close(self) -> None:
        pass


def _key(credentials: HTTPAuthorizationCredentials | None) -> object:
    assert credentials is not None
    return KEYS.setdefault(hashlib.sha256(credentials.credentials.encode()).hexdigest(), object())


async def _session(request: Request) -> AsyncIterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        await session.close()


SessionDep = Annotated[Session, Depends(_session)]


async def _api_key(
    request: Request, session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> object:
    return _key(credentials)


async def _scoped(key: Annotated[object, Depends(_api_key)]) -> object:
    return key


async def _executor(request: Request, session: SessionDep) -> tuple[Session]:
    return (session,)


async def _runtime(request: Request) -> object:
    return request.app.state


apart = FastAPI()


@apart.post("/orders", status_code=201)
async def create_apart(
    body: Body,
    key: Annotated[object, Depends(_scoped)],
    session: SessionDep,
    executor: Annotated[tuple[Session], Depends(_executor)],
    runtime: Annotated[object, Depends(_runtime)],
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, int]:
    return {"ok": 1}


@dataclass(frozen=True)
class Trading:
    key: object
    session: Session
    executor: tuple[Session]
    runtime: object


async def _trading(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AsyncIterator[Trading]:
    session = Session()
    try:
        yield Trading(_key(credentials), session, (session,), request.app.state)
    finally:
        await session.close()


async def _trading_plain(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Trading:
    session = Session()
    return Trading(_key(credentials), session, (session,), request.app.state)


def _one_dependency_app(dependency: Any) -> FastAPI:
    """The order route's shape with `dependency` as its one dependency."""
    app = FastAPI()

    async def create(
        body: Body,
        trading: Trading,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> dict[str, int]:
        return {"ok": 1}

    # An object, not the string `from __future__ import annotations` makes of it: FastAPI resolves strings in the
    # module's namespace, where `dependency` is not.
    create.__annotations__["trading"] = Annotated[Trading, Depends(dependency)]
    app.post("/orders", status_code=201)(create)
    return app


as_one = _one_dependency_app(_trading)
as_one_plain = _one_dependency_app(_trading_plain)


BODY = json.dumps({"instrument_id": "BTC-USDT", "side": "buy", "size": "1"}).encode()
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
    "path": "/orders", "raw_path": b"/orders", "root_path": "", "query_string": b"",
    "headers": [(b"authorization", b"Bearer k-1"), (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode())],
    "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1234),
}  # fmt: skip


async def _call(app: FastAPI) -> None:
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # never: the route has read its body
        raise AssertionError

    status = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app({**SCOPE, "state": {}}, receive, send)
    assert status == [201], status


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    apps = {
        "seven dependencies (as apart)": apart,
        "one, a generator": as_one,
        "one, plain (TradingDep)": as_one_plain,
    }
    for app in apps.values():  # warm-up
        for _ in range(200):
            await _call(app)
    rounds: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            started = time.process_time()
            for _ in range(args.requests):
                await _call(app)
            rounds[name].append((time.process_time() - started) / args.requests * 1e6)
    print(f"CPU per request (µs, median of {args.rounds} rounds of {args.requests:,}):")
    for name, values in rounds.items():
        print(f"  {name:32} {statistics.median(values):6.0f}   (rounds: {', '.join(f'{v:.0f}' for v in values)})")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
