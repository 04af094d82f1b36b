"""The Prometheus counters move with what is committed: orders, fills, fees, rejections, risk refusals, latency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import ExecutionEventType, Order, OrderSide, OrderStatus, OrderType
from app.services.okx.errors import OKXError
from app.services.okx.simulator import OKXSimulator
from app.services.trading.errors import RiskRejected
from app.services.trading.events import record_event
from app.services.trading.executor import TradeExecutor
from app.services.trading.order_manager import OrderParams
from app.services.trading.signal import Account, Signal

D = Decimal


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Counter values now minus at creation: the registry is shared by every test in the process."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def __call__(self) -> list[float]:
        return [value(name, **labels) - b for (name, labels), b in zip(self.samples, self.before, strict=True)]


async def test_a_filled_signal_counts_its_order_fill_fee_latency_and_slippage(executor: TradeExecutor) -> None:
    account = Account(equity=D("1000000"), available={"USDT": D("1000000"), "BTC": D("10")})
    delta = Delta(
        ("trading_orders_total", {"status": "pending_submit"}),
        ("trading_orders_total", {"status": "filled"}),
        ("trading_fills_total", {"instrument": "BTC-USDT", "liquidity": "taker"}),
        ("trading_fees_total", {"currency": "BTC"}),
        ("trading_order_submit_seconds_count", {}),
        ("trading_slippage_bps_count", {}),
        ("okx_request_seconds_count", {"method": "POST", "endpoint": "/api/v5/trade/order"}),
    )

    order = await executor.execute_signal(
        Signal(strategy_id="m1", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("0.01")), account
    )
    order = await executor.reconcile_order(order)

    assert order.status is OrderStatus.FILLED
    created, filled, fills, fees, submits, slippages, requests = delta()
    assert (created, filled, fills, submits, slippages, requests) == (1, 1, 1, 1, 1, 1)
    assert fees == pytest.approx(0.00001)  # 0.1 % taker fee on 0.01 BTC, charged in BTC


async def test_rejections_and_risk_refusals_count_by_code(executor: TradeExecutor) -> None:
    delta = Delta(
        ("trading_order_rejections_total", {"code": "51008"}),
        ("trading_orders_total", {"status": "rejected"}),
        ("trading_risk_check_failures_total", {"code": "price_deviation_too_large"}),
    )
    account = Account(equity=D("1000000"), available={"USDT": D("1000000"), "BTC": D("10")})

    refused = await executor.place_order(OrderParams("BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("1000"), D("49000")))
    with pytest.raises(RiskRejected):
        await executor.execute_signal(
            Signal(strategy_id="m2", instrument_id="BTC-USDT", side=OrderSide.BUY, size=D("0.01"), price=D("1")),
            account,
        )

    assert refused.status is OrderStatus.REJECTED
    assert delta() == [1, 1, 1]


async def test_exchange_request_errors_count_by_endpoint_and_code(executor: TradeExecutor, sim: OKXSimulator) -> None:
    def errors() -> dict[str, float]:
        return {
            sample.labels["code"]: sample.value
            for metric in REGISTRY.collect()
            if metric.name == "okx_request_errors"
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels["endpoint"] == "/api/v5/account/balance"
        }

    before = errors()
    sim.faults.update({"error_rate": 1})  # 5xx, with or without OKX's envelope (50001)
    try:
        with pytest.raises(OKXError):
            await executor.okx.account.get_balance()
    finally:
        sim.faults.update({"error_rate": 0})

    after = errors()
    added = {code: after[code] - before.get(code, 0) for code in after if after[code] != before.get(code, 0)}
    assert set(added) <= {"50001", "http_500", "http_502", "http_503"}, added
    assert sum(added.values()) == executor.okx.retry_policy.attempts  # every attempt counted


async def test_nothing_is_counted_for_a_rolled_back_transaction(db_session: AsyncSession) -> None:
    delta = Delta(("trading_orders_total", {"status": "pending_submit"}))

    def created() -> Order:
        order = Order(
            client_order_id=None, instrument_id="BTC-USDT", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D(1)
        )
        db_session.add(order)
        record_event(db_session, ExecutionEventType.ORDER_CREATED, order=order)
        return order

    created()
    await db_session.rollback()
    assert delta() == [0]

    created()
    await db_session.commit()
    assert delta() == [1]
