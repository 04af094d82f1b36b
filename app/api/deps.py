"""FastAPI dependencies as `Annotated` aliases, so each route says in its signature what it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.exchange import ExchangeConnection

__all__ = ["EngineDep", "ExchangeDep", "SessionDep", "SettingsDep"]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


def _exchange(request: Request) -> ExchangeConnection:
    return request.app.state.exchange


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
ExchangeDep = Annotated[ExchangeConnection, Depends(_exchange)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
