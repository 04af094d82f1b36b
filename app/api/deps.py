"""FastAPI dependencies as `Annotated` aliases, so each route says in its signature what it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from aiolimiter import AsyncLimiter
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.errors import APIError
from app.api.timing import close_after_request
from app.config import Settings
from app.exchange import ExchangeConnection
from app.models.auth import ApiKey
from app.services.auth import VerifiedKeys, grants, hash_key, verify_api_key
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderManager
from app.services.trading.runtime import TradingRuntime

__all__ = [
    "AdminKey",
    "EngineDep",
    "ExchangeDep",
    "ExecutorDep",
    "ReadKey",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "TradeKey",
    "Trading",
    "TradingDep",
    "require_scope",
]

# Requests per second one API key may make (bursts up to this many); beyond it: 429 with Retry-After.
CALLER_RATE_PER_S = 50
MAX_TRACKED_CALLERS = 10_000


# The dependencies are `async def` even where they do no I/O: FastAPI runs plain `def` dependencies in a thread
# pool, a thread hand-off per dependency per request.
async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def _exchange(request: Request) -> ExchangeConnection:
    return request.app.state.exchange


async def _runtime(request: Request) -> TradingRuntime:
    return request.app.state.trading


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
ExchangeDep = Annotated[ExchangeConnection, Depends(_exchange)]
RuntimeDep = Annotated[TradingRuntime, Depends(_runtime)]
SessionDep = Annotated[AsyncSession, Depends(_session)]

_bearer = HTTPBearer(auto_error=False, description="an API key: `python -m app.cli create-api-key`")


async def _verified_key(
    request: Request, session: AsyncSession, credentials: HTTPAuthorizationCredentials | None
) -> ApiKey:
    if credentials is None:
        raise APIError(
            401,
            "unauthorized",
            "send an API key as `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # The caller's own rate is checked before the database is touched, so a flood costs no queries.
    limiters: dict[str, AsyncLimiter] = request.app.state.caller_limits
    if len(limiters) > MAX_TRACKED_CALLERS:  # random tokens must not grow this without bound
        limiters.clear()
    key_hash = hash_key(credentials.credentials)
    limiter = limiters.setdefault(key_hash, AsyncLimiter(CALLER_RATE_PER_S, 1))
    if not limiter.has_capacity():
        raise APIError(
            429,
            "rate_limited",
            f"more than {CALLER_RATE_PER_S} requests per second for this key",
            headers={"Retry-After": "1"},
        )
    await limiter.acquire()
    verified: VerifiedKeys = request.app.state.verified_keys
    known, key = verified.get(key_hash)
    if not known:
        key = await verify_api_key(session, credentials.credentials)
        # End the read at once: on SQLite every transaction holds the write lock (BEGIN IMMEDIATE), and the route
        # may hand work to other units of work (the kill switch, the tracker) that must not wait behind this one.
        await session.commit()
        if key is not None:
            # The cached key outlives this request's session: detached (attributes loaded), so nothing this
            # request does to its session (a rollback expires every object in it) reaches later requests.
            session.expunge(key)
        verified.put(key_hash, key)
    if key is None:
        raise APIError(
            401, "unauthorized", "the API key is not valid or was revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return key


def _check_scope(key: ApiKey, scope: str) -> ApiKey:
    if not grants(key.scope_set, scope):
        raise APIError(403, "forbidden", f"this API key lacks the `{scope}` scope")
    return key


async def _api_key(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    return await _verified_key(request, session, credentials)


def require_scope(scope: str) -> object:
    async def dependency(key: Annotated[ApiKey, Depends(_api_key)]) -> ApiKey:
        return _check_scope(key, scope)

    return Annotated[ApiKey, Depends(dependency)]


ReadKey = require_scope("read")
TradeKey = require_scope("trade")
AdminKey = require_scope("admin")


def _new_executor(request: Request, session: AsyncSession) -> TradeExecutor:
    runtime: TradingRuntime = request.app.state.trading
    return TradeExecutor(
        request.app.state.exchange.client,
        OrderManager(session),
        runtime.risk,
        runtime.tracker_for_new_orders,
        admission=runtime.admission,
    )


async def _executor(request: Request, session: SessionDep) -> TradeExecutor:
    return _new_executor(request, session)


ExecutorDep = Annotated[TradeExecutor, Depends(_executor)]


@dataclass(frozen=True)
class Trading:
    """What a route that places orders needs: the caller's key (scope `trade`), the request's session, an
    executor on it and the runtime. Solved as one dependency: FastAPI's own cost grows with each dependency it
    solves, and these four apart (seven with the ones they depend on) cost it ~40 % more per request
    (`benchmarks/fastapi_dependencies.py`: 298 against 212 µs); the order path is where that counts."""

    key: ApiKey
    session: AsyncSession
    executor: TradeExecutor
    runtime: TradingRuntime


async def _trading(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Trading:
    # Not a `yield` dependency (FastAPI's exit stack for one: ~50-90 µs a request): the middleware closes it.
    session = close_after_request(request.scope, request.app.state.session_factory())
    key = _check_scope(await _verified_key(request, session, credentials), "trade")
    return Trading(key, session, _new_executor(request, session), request.app.state.trading)


TradingDep = Annotated[Trading, Depends(_trading)]
