"""Each risk check fails when it should and passes when it should, from in-memory state only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.models.trading import OrderSide
from app.services.okx import models as okx
from app.services.trading.risk import ExecutionRiskControl, InstrumentRules, RiskCode, TradingState
from app.services.trading.signal import Account, Signal

D = Decimal
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BTC = InstrumentRules("BTC-USDT", "BTC", "USDT", tick_size=D("0.1"), lot_size=D("0.00000001"), min_size=D("0.00001"))
SWAP = InstrumentRules(
    "BTC-USDT-SWAP",
    "BTC",
    "USDT",
    tick_size=D("0.1"),
    lot_size=D("0.01"),
    min_size=D("0.01"),
    contract_value=D("0.01"),
    is_derivative=True,
    leverage=D("10"),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def risk(**config: Any) -> ExecutionRiskControl:
    control = ExecutionRiskControl(config, clock=Clock(), wall_clock=lambda: NOW)
    control.set_instrument(BTC)
    control.set_instrument(SWAP)
    control.set_price("BTC-USDT", D("50000"))
    control.set_price("BTC-USDT-SWAP", D("50000"))
    return control


def signal(**fields: Any) -> Signal:
    values: dict[str, Any] = {
        "strategy_id": "s1",
        "instrument_id": "BTC-USDT",
        "side": OrderSide.BUY,
        "size": D("0.01"),
        "created_at": NOW,
    }
    values.update(fields)
    return Signal(**values)


ACCOUNT = Account(equity=D("100000"), available={"USDT": D("100000"), "BTC": D("1")})


def test_a_sane_order_passes_with_its_size_and_reference() -> None:
    result = risk().pre_trade_check(signal(), ACCOUNT)

    assert result.passed and result.code is None
    assert (result.size, result.reference_price) == (D("0.01"), D("50000"))


def test_the_spec_float_config_is_taken_exactly() -> None:
    control = ExecutionRiskControl({"max_order_size": 10.0, "min_order_size": 0.001, "max_price_deviation": 0.05})
    limits = (control.max_order_size, control.min_order_size, control.max_price_deviation)
    assert limits == (D("10.0"), D("0.001"), D("0.05"))
    with pytest.raises(ValueError, match="unknown risk setting"):
        ExecutionRiskControl({"max_oder_size": 1})


@pytest.mark.parametrize(
    ("setup", "sig", "account", "code"),
    [
        ({"state": TradingState.HALTED}, {}, ACCOUNT, RiskCode.TRADING_HALTED),
        ({"state": TradingState.REDUCING}, {}, ACCOUNT, RiskCode.REDUCING_ONLY),
        ({}, {"created_at": NOW - timedelta(seconds=6)}, ACCOUNT, RiskCode.SIGNAL_EXPIRED),
        ({}, {"instrument_id": "DOGE-USDT"}, ACCOUNT, RiskCode.INSTRUMENT_UNKNOWN),
        ({"not_live": True}, {}, ACCOUNT, RiskCode.INSTRUMENT_NOT_LIVE),
        ({"no_price": True}, {}, ACCOUNT, RiskCode.NO_MARKET_PRICE),
        ({}, {"size": D("0.000000001")}, ACCOUNT, RiskCode.SIZE_NOT_LOT_MULTIPLE),
        ({}, {"size": D("0.000001")}, ACCOUNT, RiskCode.SIZE_BELOW_INSTRUMENT_MINIMUM),
        ({}, {"price": D("50000.05")}, ACCOUNT, RiskCode.PRICE_NOT_TICK_MULTIPLE),
        ({}, {"size": D("0.0001")}, ACCOUNT, RiskCode.ORDER_SIZE_TOO_SMALL),
        ({"config": {"max_order_value": D("1e9")}}, {"size": D("11")}, ACCOUNT, RiskCode.ORDER_SIZE_TOO_LARGE),
        ({}, {"size": D("0.3")}, ACCOUNT, RiskCode.ORDER_VALUE_TOO_LARGE),
        ({}, {"price": D("47000")}, ACCOUNT, RiskCode.PRICE_DEVIATION_TOO_LARGE),
        (
            {},
            {},
            Account(equity=D("100000"), available={"USDT": D("1e6")}, daily_realized_pnl=D("-10000")),
            RiskCode.DAILY_LOSS_LIMIT,
        ),
        ({}, {"size": D("0.1")}, Account(equity=D("8000"), available={"USDT": D("1e6")}), RiskCode.POSITION_LIMIT),
        ({}, {}, Account(equity=D("100000"), available={"USDT": D("500.4")}), RiskCode.INSUFFICIENT_BALANCE),
        (
            {},
            {"side": OrderSide.SELL},
            Account(equity=D("100000"), available={"BTC": D("0.005")}),
            RiskCode.INSUFFICIENT_BALANCE,
        ),
        ({"open_orders": 200}, {}, ACCOUNT, RiskCode.TOO_MANY_OPEN_ORDERS),
        ({"strategy_orders": 50}, {}, ACCOUNT, RiskCode.STRATEGY_RATE_LIMITED),
    ],
)
def test_each_check_fails_with_its_code_and_a_reason(
    setup: dict[str, Any], sig: dict[str, Any], account: Account, code: RiskCode
) -> None:
    control = risk(**setup.get("config", {}))
    if "state" in setup:
        control.set_trading_state(setup["state"])
    if setup.get("not_live"):
        control.set_instrument(InstrumentRules(**{**BTC.__dict__, "live": False}))
    if setup.get("no_price"):
        control.prices.clear()
    control.open_orders = setup.get("open_orders", 0)
    for _ in range(setup.get("strategy_orders", 0)):
        control.record_order("s1")
    control.open_orders = setup.get("open_orders", 0)

    result = control.pre_trade_check(signal(**sig), account)

    assert not result.passed
    assert result.code is code
    assert result.reason


def test_fees_are_reserved_in_the_balance_check() -> None:
    # 0.01 BTC at 50000 = 500 USDT, plus 0.1 % fee = 500.5
    assert risk().pre_trade_check(signal(), Account(equity=D("1e5"), available={"USDT": D("500.5")})).passed
    assert not risk().pre_trade_check(signal(), Account(equity=D("1e5"), available={"USDT": D("500.49")})).passed


def test_reducing_state_lets_a_closing_order_through() -> None:
    control = risk()
    control.set_trading_state(TradingState.REDUCING)
    long_account = Account(equity=D("1e5"), available={"BTC": D("1")}, positions={"BTC-USDT": D("0.5")})

    assert control.pre_trade_check(signal(side=OrderSide.SELL), long_account).passed
    assert control.pre_trade_check(signal(side=OrderSide.BUY), long_account).code is RiskCode.REDUCING_ONLY


def test_daily_loss_limit_still_allows_reducing() -> None:
    losing = Account(
        equity=D("1e5"), available={"BTC": D("1")}, daily_realized_pnl=D("-20000"), positions={"BTC-USDT": D("0.5")}
    )

    assert risk().pre_trade_check(signal(side=OrderSide.SELL), losing).passed


def test_notional_is_converted_to_a_lot_aligned_size() -> None:
    result = risk().pre_trade_check(signal(size=None, notional=D("333")), ACCOUNT)

    assert result.passed
    assert result.size == D("0.00666000")  # 333 / 50000, floored to the lot


def test_swap_checks_use_contract_value_and_margin() -> None:
    control = risk()
    ten_contracts = signal(instrument_id="BTC-USDT-SWAP", size=D("10"))  # 0.1 BTC, 5000 USDT

    assert control.pre_trade_check(ten_contracts, Account(equity=D("1e5"), available={"USDT": D("505")})).passed
    short = control.pre_trade_check(ten_contracts, Account(equity=D("1e5"), available={"USDT": D("504")}))
    assert short.code is RiskCode.INSUFFICIENT_BALANCE  # 5000 / 10 leverage + 5 fee = 505


def test_strategy_throttle_window_slides() -> None:
    clock = Clock()
    control = ExecutionRiskControl(
        {"max_orders_per_strategy": 2, "strategy_window_s": 1.0}, clock=clock, wall_clock=lambda: NOW
    )
    control.set_instrument(BTC)
    control.set_price("BTC-USDT", D("50000"))
    control.record_order("s1")
    control.record_order("s1")

    assert control.pre_trade_check(signal(), ACCOUNT).code is RiskCode.STRATEGY_RATE_LIMITED
    assert control.pre_trade_check(signal(strategy_id="other"), ACCOUNT).passed
    clock.now += 1.01
    assert control.pre_trade_check(signal(), ACCOUNT).passed


def test_signal_validation() -> None:
    with pytest.raises(ValueError, match="exactly one of size"):
        Signal(strategy_id="s", instrument_id="BTC-USDT", side=OrderSide.BUY)
    with pytest.raises(ValueError, match="exactly one of size"):
        Signal(strategy_id="s", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D(1), notional=D(1))
    with pytest.raises(ValueError):
        Signal(strategy_id="s", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("-1"))
    with pytest.raises(ValueError, match="timezone"):
        naive = datetime(2026, 1, 1)
        Signal(strategy_id="s", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D(1), created_at=naive)


def test_reducing_means_no_larger_than_the_position() -> None:
    control = risk()
    control.set_trading_state(TradingState.REDUCING)
    long_account = Account(equity=D("1e5"), available={"BTC": D("1")}, positions={"BTC-USDT": D("0.01")})

    assert control.pre_trade_check(signal(side=OrderSide.SELL, size=D("0.01")), long_account).passed
    flip = control.pre_trade_check(signal(side=OrderSide.SELL, size=D("0.02")), long_account)
    assert flip.code is RiskCode.REDUCING_ONLY  # it would not only shrink the position: it would flip it


def test_open_orders_are_recounted() -> None:
    control = risk(max_open_orders=2)
    control.record_order("s1")
    control.record_order("s1")
    assert control.pre_trade_check(signal(strategy_id="s2"), ACCOUNT).code is RiskCode.TOO_MANY_OPEN_ORDERS

    control.set_open_orders(0)  # the runtime recounts from the database: those orders finished
    assert control.pre_trade_check(signal(strategy_id="s2"), ACCOUNT).passed


def _okx_instrument(inst_id: str, ct_type: str, ct_val: str, ct_val_ccy: str, settle: str) -> okx.Instrument:
    return okx.Instrument.model_validate(
        {
            "instType": "SWAP", "instId": inst_id, "uly": inst_id.removesuffix("-SWAP"), "settleCcy": settle,
            "ctVal": ct_val, "ctMult": "1", "ctValCcy": ct_val_ccy, "ctType": ct_type, "tickSz": "0.1",
            "lotSz": "1", "minSz": "1", "lever": "100", "state": "live",
        }
    )  # fmt: skip


def test_an_inverse_contract_is_refused_as_not_supported_and_a_linear_one_is_not() -> None:
    control = risk()
    inverse = InstrumentRules.from_okx(_okx_instrument("BTC-USD-SWAP", "inverse", "100", "USD", "BTC"))
    linear = InstrumentRules.from_okx(_okx_instrument("ETH-USDT-SWAP", "linear", "0.1", "ETH", "USDT"))
    for rules in (inverse, linear):
        control.set_instrument(rules)
        control.set_price(rules.instrument_id, D("50000"))

    refused = control.pre_trade_check(signal(instrument_id="BTC-USD-SWAP", size=D("1")), ACCOUNT)
    passed = control.pre_trade_check(signal(instrument_id="ETH-USDT-SWAP", size=D("1")), ACCOUNT)

    assert refused.code is RiskCode.INSTRUMENT_NOT_SUPPORTED and "inverse" in (refused.reason or "")
    assert passed.passed, passed.reason
    assert (linear.contract_value, linear.base_currency, linear.quote_currency) == (D("0.1"), "ETH", "USDT")
