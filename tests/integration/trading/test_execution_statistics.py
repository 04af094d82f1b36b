"""Execution statistics: hand-computed figures, then a plain-Python reference over random order histories."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.trading import (
    ExecutionEvent,
    ExecutionEventType,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Trade,
)
from app.services.trading.execution_statistics import ExecutionStatistics, calculate_statistics

D = Decimal
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
_ids = iter(range(1, 10**6))


def _order(
    instrument: str,
    side: OrderSide,
    status: OrderStatus,
    *,
    strategy: str | None = "alpha",
    arrival: str | None = None,
    average: str | None = None,
    filled: str = "0",
    submitted: float | None = 0.0,
    acknowledged: float | None = None,
    finished: float | None = None,
    created: datetime = T0,
    external: bool = False,
) -> Order:
    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else created + timedelta(seconds=seconds)

    n = next(_ids)
    return Order(
        client_order_id=f"st{n}",
        instrument_id=instrument,
        side=side,
        order_type=OrderType.MARKET,
        size=D("5"),
        status=status,
        strategy_id=strategy,
        arrival_price=None if arrival is None else D(arrival),
        average_fill_price=None if average is None else D(average),
        filled_size=D(filled),
        submitted_at=at(submitted),
        acknowledged_at=at(acknowledged),
        finished_at=at(finished),
        created_at=created,
        is_external=external,
    )


def _trade(order: Order, fee: str, currency: str, liquidity: Liquidity | None, at: datetime = T0) -> Trade:
    return Trade(
        order=order,
        exchange_trade_id=f"st{next(_ids)}",
        instrument_id=order.instrument_id,
        side=order.side,
        price=D("100"),
        size=D("1"),
        fee=D(fee),
        fee_currency=currency,
        liquidity=liquidity,
        strategy_id=order.strategy_id,
        executed_at=at,
    )


def _refusal(instrument: str, strategy: str | None, at: datetime = T0) -> ExecutionEvent:
    return ExecutionEvent(
        event_type=ExecutionEventType.RISK_CHECK_FAILED,
        instrument_id=instrument,
        strategy_id=strategy,
        created_at=at,
        occurred_at=at,
    )


async def test_statistics_match_hand_computed_values(db_session: AsyncSession) -> None:
    buy = _order("BTC-USDT", OrderSide.BUY, OrderStatus.FILLED, arrival="100", average="101", filled="2",
                 acknowledged=0.1, finished=2)  # fmt: skip
    sell = _order("BTC-USDT", OrderSide.SELL, OrderStatus.FILLED, arrival="200", average="199", filled="1",
                  acknowledged=0.3, finished=4, strategy="beta")  # fmt: skip
    rejected = _order("ETH-USDT", OrderSide.BUY, OrderStatus.REJECTED, finished=0.05)
    canceled = _order("ETH-USDT", OrderSide.BUY, OrderStatus.CANCELED, arrival="100", average="99", filled="1",
                      acknowledged=0.2, finished=9)  # fmt: skip
    unsent = _order("ETH-USDT", OrderSide.BUY, OrderStatus.PENDING_SUBMIT, submitted=None)
    external = _order("BTC-USDT", OrderSide.BUY, OrderStatus.FILLED, arrival="1", average="9", filled="1",
                      external=True)  # fmt: skip
    earlier = _order("BTC-USDT", OrderSide.BUY, OrderStatus.REJECTED, created=T0 - timedelta(days=2))
    db_session.add_all([buy, sell, rejected, canceled, unsent, external, earlier])
    db_session.add_all(
        [
            _trade(buy, "0.1", "USDT", Liquidity.MAKER),
            _trade(buy, "0.2", "USDT", Liquidity.TAKER),
            _trade(sell, "0.00001", "BTC", Liquidity.TAKER),
            _trade(canceled, "0.3", "USDT", None),
            _trade(canceled, "5", "USDT", Liquidity.MAKER, at=T0 - timedelta(days=2)),  # outside the range
            _refusal("BTC-USDT", "alpha"),
            _refusal("ETH-USDT", None),
            _refusal("ETH-USDT", None, at=T0 - timedelta(days=2)),
        ]
    )
    await db_session.flush()

    report = await calculate_statistics(db_session, T0 - timedelta(hours=1), T0 + timedelta(hours=1))

    overall = report.overall
    assert (overall.orders, overall.filled, overall.rejected) == (5, 2, 1)  # not the external one, not the earlier one
    assert overall.fill_rate == 2 / 4  # filled / finished (filled, rejected, canceled)
    assert overall.rejection_rate == 1 / 4  # rejected / sent (all but the unsent one)
    assert overall.average_time_to_fill_s == pytest.approx(3.0)  # filled orders: 2 s and 4 s
    assert overall.average_time_to_ack_s == pytest.approx(0.2)  # 0.1, 0.3, 0.2
    # Buy 100 → 101: +100 bps; sell 200 → 199: +50 bps (better for a sell is lower, worse is lower); buy 100 → 99: -100.
    assert overall.slippage_bps == pytest.approx((100 + 50 - 100) / 3)
    # Weighted by executed notional 202, 199, 99.
    assert overall.implementation_shortfall_bps == pytest.approx((100 * 202 + 50 * 199 - 100 * 99) / 500)
    assert overall.maker_ratio == 1 / 3  # liquidity known for three fills, one of them maker
    assert overall.fees == {"USDT": D("0.6"), "BTC": D("0.00001")}
    assert (overall.risk_checks_passed, overall.risk_checks_failed) == (5, 2)

    assert set(report.by_instrument) == {"BTC-USDT", "ETH-USDT"}
    eth = report.by_instrument["ETH-USDT"]
    assert (eth.orders, eth.filled, eth.rejected, eth.fill_rate, eth.rejection_rate) == (3, 0, 1, 0.0, 0.5)
    assert (eth.slippage_bps, eth.risk_checks_failed, eth.fees) == (pytest.approx(-100), 1, {"USDT": D("0.3")})
    assert eth.maker_ratio is None and eth.average_time_to_fill_s is None
    assert set(report.by_strategy) == {"alpha", "beta", ""}  # "": the refusal made without a strategy
    assert (report.by_strategy[""].orders, report.by_strategy[""].risk_checks_failed) == (0, 1)
    assert report.by_strategy["beta"].slippage_bps == pytest.approx(50)
    assert report.by_strategy["alpha"].risk_checks_failed == 1


async def test_statistics_of_an_empty_range(db_session: AsyncSession) -> None:
    report = await calculate_statistics(db_session, T0, T0 + timedelta(days=1))

    assert report.overall == ExecutionStatistics()
    assert report.by_instrument == {} and report.by_strategy == {}


def _reference(orders: list[Order], trades: list[Trade], refusals: list[ExecutionEvent]) -> ExecutionStatistics:
    def mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    finished = [o for o in orders if o.status.is_terminal]
    sent = [o for o in orders if o.status is not OrderStatus.PENDING_SUBMIT]
    filled = [o for o in orders if o.status is OrderStatus.FILLED]
    rejected = [o for o in orders if o.status is OrderStatus.REJECTED]
    slips, weights = [], []
    for o in orders:
        if o.filled_size > 0 and o.arrival_price and o.average_fill_price:
            sign = 1 if o.side is OrderSide.BUY else -1
            slips.append(float((o.average_fill_price - o.arrival_price) / o.arrival_price) * 10_000 * sign)
            weights.append(float(o.filled_size * o.average_fill_price))
    known = [t for t in trades if t.liquidity is not None]
    fees: dict[str, Decimal] = defaultdict(Decimal)
    for t in trades:
        fees[t.fee_currency] += t.fee
    return ExecutionStatistics(
        orders=len(orders),
        filled=len(filled),
        rejected=len(rejected),
        fill_rate=len(filled) / len(finished) if finished else None,
        rejection_rate=len(rejected) / len(sent) if sent else None,
        average_time_to_fill_s=mean([(o.finished_at - o.submitted_at).total_seconds() for o in filled]),
        average_time_to_ack_s=mean(
            [(o.acknowledged_at - o.submitted_at).total_seconds() for o in orders if o.acknowledged_at]
        ),
        slippage_bps=mean(slips),
        implementation_shortfall_bps=sum(s * w for s, w in zip(slips, weights, strict=True)) / sum(weights)
        if slips
        else None,
        maker_ratio=sum(t.liquidity is Liquidity.MAKER for t in known) / len(known) if known else None,
        fees=dict(fees),
        risk_checks_passed=len(orders),
        risk_checks_failed=len(refusals),
    )


def _same(got: ExecutionStatistics, want: ExecutionStatistics, where: str) -> None:
    for name in ExecutionStatistics.__dataclass_fields__:
        actual, expected = getattr(got, name), getattr(want, name)
        if isinstance(expected, float):
            assert actual == pytest.approx(expected, rel=1e-9, abs=1e-6), f"{name} of {where}"
        else:
            assert actual == expected, f"{name} of {where}"


@pytest.mark.parametrize("seed", [11, 12])
async def test_statistics_match_a_reference_over_random_histories(db_session: AsyncSession, seed: int) -> None:
    rng = random.Random(seed)
    instruments, strategies = ["BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"], ["a", "b", None]
    statuses = [OrderStatus.FILLED] * 4 + [
        OrderStatus.REJECTED,
        OrderStatus.CANCELED,
        OrderStatus.LIVE,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.FAILED,
    ]
    orders, trades, refusals = [], [], []
    for _ in range(150):
        status = rng.choice(statuses)
        created = T0 + timedelta(seconds=rng.randint(0, 5 * 86400))
        filled = status in {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED} or (
            status is OrderStatus.CANCELED and rng.random() < 0.5
        )
        arrival = D(rng.randint(9000, 11000)) / 100
        order = _order(
            rng.choice(instruments),
            rng.choice([OrderSide.BUY, OrderSide.SELL]),
            status,
            strategy=rng.choice(strategies),
            arrival=str(arrival) if rng.random() < 0.9 else None,
            average=str(arrival * (1 + D(rng.randint(-80, 80)) / 10000)) if filled else None,
            filled=str(D(rng.randint(1, 500)) / 100) if filled else "0",
            submitted=None if status is OrderStatus.PENDING_SUBMIT else rng.random(),
            acknowledged=None if status in {OrderStatus.PENDING_SUBMIT, OrderStatus.REJECTED} else 1 + rng.random(),
            finished=2 + rng.random() * 30 if status.is_terminal else None,
            created=created,
        )
        orders.append(order)
        for _ in range(rng.randint(0, 3) if filled else 0):
            liquidity = rng.choice([Liquidity.MAKER, Liquidity.TAKER, None])
            fee = str(D(rng.randint(0, 10**6)) / 10**8)
            trades.append(_trade(order, fee, rng.choice(["USDT", "BTC"]), liquidity, at=created))
        if rng.random() < 0.2:
            refusals.append(_refusal(order.instrument_id, order.strategy_id, at=created))
    db_session.add_all([*orders, *trades, *refusals])
    await db_session.flush()

    for start, end in [(T0, T0 + timedelta(days=6)), (T0 + timedelta(hours=30), T0 + timedelta(hours=70))]:
        report = await calculate_statistics(db_session, start, end)

        def within(moment: datetime) -> bool:
            return start <= moment < end  # noqa: B023

        in_orders = [o for o in orders if within(o.created_at)]
        in_trades = [t for t in trades if within(t.executed_at)]
        in_refusals = [r for r in refusals if within(r.created_at)]
        _same(report.overall, _reference(in_orders, in_trades, in_refusals), "overall")
        for instrument in instruments:
            want = _reference(
                [o for o in in_orders if o.instrument_id == instrument],
                [t for t in in_trades if t.instrument_id == instrument],
                [r for r in in_refusals if r.instrument_id == instrument],
            )
            _same(report.by_instrument.get(instrument, ExecutionStatistics()), want, instrument)
        for strategy in strategies:
            want = _reference(
                [o for o in in_orders if o.strategy_id == strategy],
                [t for t in in_trades if t.strategy_id == strategy],
                [r for r in in_refusals if r.strategy_id == strategy],
            )
            _same(report.by_strategy.get(strategy or "", ExecutionStatistics()), want, f"strategy {strategy}")
    assert (await db_session.execute(select(Order.id))).first() is not None
