"""`OKXMarket` (tickers, order books) and `OKXPublic` (server time, instruments with a refreshed cache)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import TYPE_CHECKING

from app.services.okx.client import first, parse
from app.services.okx.constants import Path
from app.services.okx.errors import OKXInstrumentNotFound
from app.services.okx.models import Instrument, OrderBook, ServerTime, Ticker

if TYPE_CHECKING:
    from app.services.okx.client import OKXClient

__all__ = ["OKXMarket", "OKXPublic", "instrument_type_of"]

INSTRUMENT_CACHE_TTL_S = 300.0
_FUTURES_ID = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+-\d{6}$")
_OPTION_ID = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+-\d{6}-[0-9.]+-[CP]$")


def instrument_type_of(inst_id: str) -> str:
    """OKX's instType from the shape of an instId (BTC-USDT, BTC-USDT-SWAP, BTC-USD-250328, …-C/P)."""
    if inst_id.endswith("-SWAP"):
        return "SWAP"
    if _OPTION_ID.match(inst_id):
        return "OPTION"
    if _FUTURES_ID.match(inst_id):
        return "FUTURES"
    return "SPOT"


class OKXMarket:
    def __init__(self, client: OKXClient) -> None:
        self._client = client

    async def get_ticker(self, inst_id: str) -> Ticker:
        data = await self._client.request("GET", Path.TICKER, params={"instId": inst_id}, auth=False)
        if not data:
            raise OKXInstrumentNotFound(f"no ticker for {inst_id}", code="51001")
        return parse(Ticker, first(data, what="ticker"), what="ticker")

    async def get_tickers(self, inst_type: str) -> list[Ticker]:
        data = await self._client.request("GET", Path.TICKERS, params={"instType": inst_type}, auth=False)
        return [parse(Ticker, item, what="ticker") for item in data]

    async def get_order_book(self, inst_id: str, depth: int = 20) -> OrderBook:
        """Top `depth` levels per side (OKX: 1–400; without `sz` it sends only 1)."""
        data = await self._client.request("GET", Path.BOOKS, params={"instId": inst_id, "sz": depth}, auth=False)
        return parse(OrderBook, first(data, what="order book"), what="order book")


class OKXPublic:
    def __init__(self, client: OKXClient, *, cache_ttl_s: float = INSTRUMENT_CACHE_TTL_S) -> None:
        self._client = client
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, dict[str, Instrument]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get_server_time(self) -> datetime:
        data = await self._client.request("GET", Path.TIME, auth=False)
        return parse(ServerTime, first(data, what="server time"), what="server time").ts

    async def get_instruments(
        self, inst_type: str, *, inst_id: str | None = None, uly: str | None = None, inst_family: str | None = None
    ) -> list[Instrument]:
        params = {"instType": inst_type, "instId": inst_id, "uly": uly, "instFamily": inst_family}
        data = await self._client.request("GET", Path.INSTRUMENTS, params=params, auth=False)
        return [
            parse(Instrument, item, what="instrument") for item in data if isinstance(item, dict) and item.get("instId")
        ]

    async def instruments(self, inst_type: str, *, refresh: bool = False) -> dict[str, Instrument]:
        """All instruments of a type by instId, cached for `cache_ttl_s` (one fetch even under concurrency)."""
        lock = self._locks.setdefault(inst_type, asyncio.Lock())
        async with lock:
            cached = self._cache.get(inst_type)
            now = self._client.now_s()
            if cached is None or refresh or now - cached[0] >= self.cache_ttl_s:
                fetched = await self.get_instruments(inst_type)
                cached = (now, {instrument.inst_id: instrument for instrument in fetched})
                self._cache[inst_type] = cached
            return cached[1]

    async def instrument(self, inst_id: str) -> Instrument:
        """One instrument's rules (tickSz, lotSz, minSz, ctVal, state); refreshed once if it is not known yet."""
        inst_type = instrument_type_of(inst_id)
        found = (await self.instruments(inst_type)).get(inst_id)
        if found is None:
            found = (await self.instruments(inst_type, refresh=True)).get(inst_id)
        if found is None:
            raise OKXInstrumentNotFound(f"instrument {inst_id} does not exist", code="51001")
        return found
