"""The simulator's instruments and starting balances (configurable; these are the defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_INSTRUMENTS",
    "EXTRA_SPOT_INSTRUMENTS",
    "SimInstrument",
    "extra_spot_balances",
    "fmt",
]


def fmt(value: Decimal | None) -> str:
    """OKX's number strings: fixed-point, no exponent, no trailing zeros ("" for absent)."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class SimInstrument:
    inst_id: str
    inst_type: str  # SPOT or SWAP (linear, USDT-settled)
    base_ccy: str
    quote_ccy: str
    tick_sz: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    start_price: Decimal
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    ct_val: Decimal | None = None
    lever: Decimal = Decimal(10)
    max_lmt_sz: Decimal = Decimal("100000000")
    max_mkt_sz: Decimal = Decimal("1000000")
    state: str = "live"

    @property
    def is_swap(self) -> bool:
        return self.inst_type == "SWAP"

    @property
    def settle_ccy(self) -> str:
        return self.quote_ccy

    @property
    def multiplier(self) -> Decimal:
        """Base units per size unit: 1 for spot, ctVal for a linear swap."""
        return self.ct_val if self.ct_val is not None else Decimal(1)

    def to_okx(self) -> dict[str, Any]:
        """The row of /api/v5/public/instruments, shaped like OKX's (SWAP rows carry uly and settleCcy)."""
        swap = self.is_swap
        return {
            "instType": self.inst_type,
            "instId": self.inst_id,
            "uly": f"{self.base_ccy}-{self.quote_ccy}" if swap else "",
            "instFamily": f"{self.base_ccy}-{self.quote_ccy}" if swap else "",
            "baseCcy": "" if swap else self.base_ccy,
            "quoteCcy": "" if swap else self.quote_ccy,
            "settleCcy": self.settle_ccy if swap else "",
            "ctVal": fmt(self.ct_val) if swap else "",
            "ctMult": "1" if swap else "",
            "ctValCcy": self.base_ccy if swap else "",
            "ctType": "linear" if swap else "",
            "tickSz": fmt(self.tick_sz),
            "lotSz": fmt(self.lot_sz),
            "minSz": fmt(self.min_sz),
            "maxLmtSz": fmt(self.max_lmt_sz),
            "maxMktSz": fmt(self.max_mkt_sz),
            "lever": fmt(self.lever) if swap else "",
            "state": self.state,
            "listTime": "1606468572000",
            "expTime": "",
            "alias": "",
            "category": "1",
            "optType": "",
            "stk": "",
        }


DEFAULT_INSTRUMENTS: tuple[SimInstrument, ...] = (
    SimInstrument(
        inst_id="BTC-USDT",
        inst_type="SPOT",
        base_ccy="BTC",
        quote_ccy="USDT",
        tick_sz=Decimal("0.1"),
        lot_sz=Decimal("0.00000001"),
        min_sz=Decimal("0.00001"),
        start_price=Decimal("50000"),
        maker_fee_rate=Decimal("0.0008"),
        taker_fee_rate=Decimal("0.001"),
    ),
    SimInstrument(
        inst_id="ETH-USDT",
        inst_type="SPOT",
        base_ccy="ETH",
        quote_ccy="USDT",
        tick_sz=Decimal("0.01"),
        lot_sz=Decimal("0.000001"),
        min_sz=Decimal("0.0001"),
        start_price=Decimal("3000"),
        maker_fee_rate=Decimal("0.0008"),
        taker_fee_rate=Decimal("0.001"),
    ),
    SimInstrument(
        inst_id="BTC-USDT-SWAP",
        inst_type="SWAP",
        base_ccy="BTC",
        quote_ccy="USDT",
        tick_sz=Decimal("0.1"),
        lot_sz=Decimal("0.01"),
        min_sz=Decimal("0.01"),
        start_price=Decimal("50000"),
        ct_val=Decimal("0.01"),
        maker_fee_rate=Decimal("0.0002"),
        taker_fee_rate=Decimal("0.0005"),
    ),
)

DEFAULT_BALANCES: dict[str, Decimal] = {"USDT": Decimal("1000000"), "BTC": Decimal("10"), "ETH": Decimal("100")}


# `--many-instruments` (load tests): OKX limits order placement per instrument (60 per 2 s), so an account placing
# hundreds of orders a second spreads them over many instruments, as these twenty spot pairs allow.
_EXTRA_SPOT = {
    "SOL": "150", "XRP": "0.6", "DOGE": "0.15", "ADA": "0.45", "AVAX": "35", "LINK": "15", "DOT": "7",
    "LTC": "80", "TRX": "0.12", "BCH": "400", "ATOM": "9", "UNI": "8", "NEAR": "5", "APT": "9", "ARB": "1.1",
    "OP": "2.5", "FIL": "6", "ETC": "25", "XLM": "0.11", "SUI": "1.5",
}  # fmt: skip
EXTRA_SPOT_INSTRUMENTS: tuple[SimInstrument, ...] = tuple(
    SimInstrument(
        inst_id=f"{base}-USDT",
        inst_type="SPOT",
        base_ccy=base,
        quote_ccy="USDT",
        tick_sz=Decimal("0.0001"),
        lot_sz=Decimal("0.0001"),
        min_sz=Decimal("0.001"),
        start_price=Decimal(price),
        maker_fee_rate=Decimal("0.0008"),
        taker_fee_rate=Decimal("0.001"),
    )
    for base, price in _EXTRA_SPOT.items()
)


def extra_spot_balances() -> dict[str, Decimal]:
    return {instrument.base_ccy: Decimal("1000000") for instrument in EXTRA_SPOT_INSTRUMENTS}
