"""`OKXAccount`: balances, positions and the account's configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.services.okx.client import first, parse
from app.services.okx.constants import Path
from app.services.okx.models import AccountConfig, Balance, PositionInfo

if TYPE_CHECKING:
    from app.services.okx.client import OKXClient

__all__ = ["OKXAccount"]


class OKXAccount:
    def __init__(self, client: OKXClient) -> None:
        self._client = client

    async def get_balance(self, *currencies: str) -> Balance:
        """The trading account's equity and per-currency balances (all currencies, or the ones named)."""
        params = {"ccy": ",".join(currencies) or None}
        data = await self._client.request("GET", Path.BALANCE, params=params)
        return parse(Balance, first(data, what="balance"), what="balance") if data else Balance()

    async def get_positions(self, *, inst_type: str | None = None, inst_id: str | None = None) -> list[PositionInfo]:
        """Open derivative/margin positions (spot holdings are balances, not positions)."""
        data = await self._client.request("GET", Path.POSITIONS, params={"instType": inst_type, "instId": inst_id})
        return [parse(PositionInfo, item, what="position") for item in data]

    async def get_config(self) -> AccountConfig:
        """Account level and position mode (`net_mode` or `long_short_mode`)."""
        data = await self._client.request("GET", Path.ACCOUNT_CONFIG)
        return parse(AccountConfig, first(data, what="account config"), what="account config")
