"""Typed OKX v5 results: OKX's fields under snake_case names (`ordId` → `ord_id`), numbers as `Decimal`.

They mirror OKX, signs included (`fee` < 0 means charged); turning them into our own records is the trading layer's
job. OKX sends `""` for "absent": every field treats it as None. Unknown fields are ignored, so a new OKX field
never breaks parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "AccountConfig",
    "Balance",
    "BalanceDetail",
    "BookLevel",
    "CancelAllAfter",
    "Fill",
    "Instrument",
    "OKXModel",
    "Order",
    "OrderAck",
    "OrderBook",
    "PositionInfo",
    "ServerTime",
    "Ticker",
    "ms_to_datetime",
]


def ms_to_datetime(value: Any) -> Any:
    """OKX timestamps are Unix milliseconds as strings."""
    if isinstance(value, str | int) and str(value).lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return value


OKXTime = Annotated[datetime, BeforeValidator(ms_to_datetime)]


class OKXModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class Instrument(OKXModel):
    inst_type: str
    inst_id: str
    uly: str | None = None
    inst_family: str | None = None
    base_ccy: str | None = None
    quote_ccy: str | None = None
    settle_ccy: str | None = None
    ct_val: Decimal | None = None
    ct_mult: Decimal | None = None
    ct_val_ccy: str | None = None
    ct_type: str | None = None
    tick_sz: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    max_lmt_sz: Decimal | None = None
    max_mkt_sz: Decimal | None = None
    lever: Decimal | None = None
    state: str
    list_time: OKXTime | None = None
    exp_time: OKXTime | None = None

    @property
    def is_live(self) -> bool:
        return self.state == "live"

    @property
    def contract_multiplier(self) -> Decimal:
        """Base units per size unit: 1 for spot, ctVal (× ctMult) for contracts."""
        if self.inst_type == "SPOT" or self.ct_val is None:
            return Decimal(1)
        return self.ct_val * (self.ct_mult or Decimal(1))


class Ticker(OKXModel):
    inst_type: str | None = None
    inst_id: str
    last: Decimal | None = None
    last_sz: Decimal | None = None
    ask_px: Decimal | None = None
    ask_sz: Decimal | None = None
    bid_px: Decimal | None = None
    bid_sz: Decimal | None = None
    open24h: Decimal | None = None
    high24h: Decimal | None = None
    low24h: Decimal | None = None
    vol24h: Decimal | None = None
    vol_ccy24h: Decimal | None = None
    ts: OKXTime

    @property
    def mid(self) -> Decimal | None:
        if self.bid_px is None or self.ask_px is None:
            return None
        return (self.bid_px + self.ask_px) / 2


class BookLevel(OKXModel):
    px: Decimal
    sz: Decimal
    orders: int

    @classmethod
    def from_row(cls, row: list[str]) -> BookLevel:
        """OKX levels are `[price, size, "0" (deprecated), number of orders]`."""
        return cls(px=Decimal(row[0]), sz=Decimal(row[1]), orders=int(row[3]) if len(row) > 3 else 0)


class OrderBook(OKXModel):
    asks: list[BookLevel]
    bids: list[BookLevel]
    ts: OKXTime

    @field_validator("asks", "bids", mode="before")
    @classmethod
    def _levels(cls, rows: Any) -> Any:
        return [BookLevel.from_row(row) if isinstance(row, list) else row for row in rows or []]


class OrderAck(OKXModel):
    """One item of a place / cancel / amend answer: `s_code` "0" means accepted (not done)."""

    ord_id: str | None = None
    cl_ord_id: str | None = None
    tag: str | None = None
    ts: OKXTime | None = None
    req_id: str | None = None
    s_code: str
    s_msg: str | None = None

    @property
    def ok(self) -> bool:
        return self.s_code == "0"


class Order(OKXModel):
    """An order as OKX reports it (REST order object; the WebSocket `orders` push adds the fill extras)."""

    inst_type: str | None = None
    inst_id: str
    ord_id: str
    cl_ord_id: str | None = None
    tag: str | None = None
    px: Decimal | None = None
    sz: Decimal
    ord_type: str
    side: str
    pos_side: str | None = None
    td_mode: str | None = None
    tgt_ccy: str | None = None
    state: str
    acc_fill_sz: Decimal = Decimal(0)
    avg_px: Decimal | None = None
    fill_px: Decimal | None = None
    fill_sz: Decimal | None = None
    fill_time: OKXTime | None = None
    trade_id: str | None = None
    fee: Decimal | None = None
    fee_ccy: str | None = None
    rebate: Decimal | None = None
    rebate_ccy: str | None = None
    pnl: Decimal | None = None
    lever: Decimal | None = None
    reduce_only: bool | None = None
    cancel_source: str | None = None
    cancel_source_reason: str | None = None
    category: str | None = None
    # WebSocket push extras.
    exec_type: str | None = None
    fill_fee: Decimal | None = None
    fill_fee_ccy: str | None = None
    amend_result: str | None = None
    code: str | None = None
    msg: str | None = None
    c_time: OKXTime
    u_time: OKXTime


class Fill(OKXModel):
    inst_type: str | None = None
    inst_id: str
    trade_id: str
    ord_id: str
    cl_ord_id: str | None = None
    bill_id: str | None = None
    tag: str | None = None
    side: str
    pos_side: str | None = None
    fill_px: Decimal
    fill_sz: Decimal
    fee: Decimal | None = None
    fee_ccy: str | None = None
    exec_type: str | None = None
    fill_time: OKXTime | None = None
    ts: OKXTime


class BalanceDetail(OKXModel):
    ccy: str
    eq: Decimal | None = None
    cash_bal: Decimal | None = None
    avail_bal: Decimal | None = None
    avail_eq: Decimal | None = None
    frozen_bal: Decimal | None = None
    ord_frozen: Decimal | None = None
    eq_usd: Decimal | None = None
    upl: Decimal | None = None
    u_time: OKXTime | None = None

    @property
    def available(self) -> Decimal:
        """What can be spent: availEq where OKX reports it, else availBal (ccxt's rule)."""
        return self.avail_eq if self.avail_eq is not None else (self.avail_bal or Decimal(0))


class Balance(OKXModel):
    total_eq: Decimal | None = None
    u_time: OKXTime | None = None
    details: list[BalanceDetail] = []

    def currency(self, ccy: str) -> BalanceDetail | None:
        return next((detail for detail in self.details if detail.ccy == ccy), None)


class PositionInfo(OKXModel):
    inst_type: str
    inst_id: str
    pos_id: str | None = None
    pos_side: str | None = None
    pos: Decimal
    avg_px: Decimal | None = None
    mark_px: Decimal | None = None
    liq_px: Decimal | None = None
    upl: Decimal | None = None
    upl_ratio: Decimal | None = None
    realized_pnl: Decimal | None = None
    lever: Decimal | None = None
    mgn_mode: str | None = None
    margin: Decimal | None = None
    imr: Decimal | None = None
    mmr: Decimal | None = None
    notional_usd: Decimal | None = None
    ccy: str | None = None
    trade_id: str | None = None  # the last fill that moved the position
    c_time: OKXTime | None = None
    u_time: OKXTime | None = None


class AccountConfig(OKXModel):
    uid: str
    acct_lv: str | None = None
    pos_mode: str | None = None
    perm: str | None = None
    label: str | None = None


class ServerTime(OKXModel):
    ts: OKXTime


class CancelAllAfter(OKXModel):
    """`trigger_time`: when OKX will cancel everything ("0" = disabled). OKX's unit is undocumented (the docs
    example shows Unix seconds), so it is kept as OKX sent it."""

    trigger_time: str | None = None
    tag: str | None = None
    ts: str | None = None

    @field_validator("trigger_time", "ts", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # OKX's type here is undocumented

    @property
    def enabled(self) -> bool:
        return self.trigger_time not in (None, "", "0")
