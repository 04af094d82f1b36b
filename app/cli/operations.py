"""The operator's commands: look at open orders and positions, cancel everything, halt or resume trading, reconcile.

    orders [--instrument ID]             open orders, oldest first
    positions [--all]                    open positions (--all: closed ones too)
    cancel-all [--instrument ID]         cancel every open order; exit 1 if any could not be
    kill-switch on|off|status [--reason] halt (and cancel open orders) / resume / show the trading state
    reconcile [--dry-run]                compare open orders and positions with the exchange; correct them unless
                                         --dry-run

They work on the database and the exchange named by the settings, through the same services the API uses. The
trading state is recorded in the database (kill_switch.py): a running service follows a change within its price
refresh (2 s), and its leader cancels what is open when it sees a halt. With `ENVIRONMENT=sim` and no
`OKX_REST_URL` the exchange lives inside the running service, so the commands that need it (cancel-all,
reconcile) refuse and say so; `kill-switch on` still records the halt and leaves the cancels to the service.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli.table import render
from app.config import Environment, Settings
from app.exchange import ExchangeConnection, open_exchange
from app.models.trading import Order
from app.services.trading.executor import CancelAllResult, TradeExecutor
from app.services.trading.kill_switch import record_trading_state, stored_trading_state
from app.services.trading.order_manager import OrderManager
from app.services.trading.order_tracker import OrderTracker
from app.services.trading.position_manager import PositionManager
from app.services.trading.reconciliation import reconcile_with_exchange
from app.services.trading.risk import ExecutionRiskControl, TradingState

__all__ = ["COMMANDS", "CommandFailed", "add_commands", "run"]

COMMANDS = frozenset({"orders", "positions", "cancel-all", "kill-switch", "reconcile"})


class CommandFailed(Exception):
    """One sentence for the operator; the command exits 1."""


def add_commands(commands: Any) -> None:
    orders = commands.add_parser("orders", help="list open orders")
    orders.add_argument("--instrument", help="only this instrument, e.g. BTC-USDT")
    positions = commands.add_parser("positions", help="list open positions")
    positions.add_argument("--all", action="store_true", help="closed positions too")
    cancel = commands.add_parser("cancel-all", help="cancel every open order")
    cancel.add_argument("--instrument", help="only this instrument's orders")
    kill = commands.add_parser("kill-switch", help="halt trading and cancel open orders (on), resume (off), show")
    kill.add_argument("action", choices=["on", "off", "status"])
    kill.add_argument("--reason", default="", help="recorded with the change")
    reconcile = commands.add_parser("reconcile", help="compare with the exchange and correct the differences")
    reconcile.add_argument("--dry-run", action="store_true", help="only list the differences")


def _exchange_reachable(settings: Settings) -> bool:
    return not (settings.environment is Environment.SIM and settings.okx_rest_url is None)


@asynccontextmanager
async def _exchange(settings: Settings) -> AsyncIterator[ExchangeConnection]:
    if not _exchange_reachable(settings):
        raise CommandFailed(
            "The exchange named by the settings is the simulator inside the running service (ENVIRONMENT=sim "
            "without OKX_REST_URL), which this command cannot reach: set OKX_REST_URL to a standalone simulator, "
            "or use the service's API."
        )
    exchange = await open_exchange(settings)
    try:
        yield exchange
    finally:
        await exchange.close()


def _order_rows(orders: Sequence[Order]) -> list[list[object]]:
    return [
        [
            o.id,
            o.client_order_id,
            o.exchange_order_id,
            o.instrument_id,
            o.side,
            o.order_type,
            o.price,
            o.size,
            o.filled_size,
            o.status,
            o.strategy_id,
            o.created_at,
        ]
        for o in orders
    ]


ORDER_HEADERS = [
    "ID",
    "CLIENT ORDER ID",
    "EXCHANGE ORDER ID",
    "INSTRUMENT",
    "SIDE",
    "TYPE",
    "PRICE",
    "SIZE",
    "FILLED",
    "STATUS",
    "STRATEGY",
    "CREATED (UTC)",
]


async def _orders(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        orders = await OrderManager(session).get_active_orders(args.instrument)
    print(render(ORDER_HEADERS, _order_rows(orders)) if orders else "No open orders.")
    return 0


async def _positions(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        positions = await PositionManager(session).get_all_positions(include_closed=args.all)
    if not positions:
        print("No positions." if args.all else "No open positions.")
        return 0
    headers = ["INSTRUMENT", "SIDE", "SIZE", "AVG ENTRY", "MARK", "UNREALIZED PNL", "REALIZED PNL", "UPDATED (UTC)"]
    rows = [
        [
            p.instrument_id,
            p.position_side,
            p.size,
            p.average_entry_price,
            p.current_price,
            p.unrealized_pnl,
            p.realized_pnl,
            p.updated_at,
        ]
        for p in positions
    ]
    print(render(headers, rows))
    return 0


async def _cancel_all(
    settings: Settings, factory: async_sessionmaker[AsyncSession], instrument: str | None
) -> CancelAllResult:
    async with _exchange(settings) as exchange, factory() as session:
        executor = TradeExecutor(exchange.client, OrderManager(session), ExecutionRiskControl(settings.risk_config))
        return await executor.cancel_all(instrument)


def _report_cancels(result: CancelAllResult) -> None:
    total = len(result.canceled) + len(result.failed)
    if total == 0:
        print("No open orders to cancel.")
        return
    if result.canceled:
        rows = [[o.id, o.instrument_id, o.side, o.size, o.filled_size, o.status] for o in result.canceled]
        print(render(["ID", "INSTRUMENT", "SIDE", "SIZE", "FILLED", "STATUS"], rows))
    if result.failed:
        print(render(["ID", "NOT CANCELED BECAUSE"], result.failed))
    print(f"Canceled {len(result.canceled)} of {total} open orders.")
    if result.failed:
        raise CommandFailed(f"{len(result.failed)} of {total} open orders could not be canceled (listed above).")


async def _kill_switch(args: argparse.Namespace, settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        stored = await stored_trading_state(session)
        current = stored.state if stored else TradingState.ACTIVE
        if args.action == "status":
            if stored is None:
                print("Trading is active (the kill switch was never used).")
            else:
                reason = f": {stored.reason}" if stored.reason else ""
                print(
                    f"Trading is {stored.state.value} since {stored.changed_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"(set by {stored.source}{reason})."
                )
            return 0
        wanted = TradingState.HALTED if args.action == "on" else TradingState.ACTIVE
        await record_trading_state(session, current, wanted, reason=args.reason, source="cli")
        await session.commit()
    print(f"Trading is {wanted.value} (was {current.value}); running replicas follow within a few seconds.")
    if wanted is TradingState.HALTED:
        if _exchange_reachable(settings):
            _report_cancels(await _cancel_all(settings, factory, None))
        else:
            print("Open orders are canceled by the running service (its exchange is the simulator inside it).")
    return 0


def _position_rows(differences: list[dict[str, Any]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for difference in differences:
        corrected = difference.get("corrected", True)
        for name, value in difference.items():
            if isinstance(value, dict):
                what = name if corrected else f"{name} (reported, not corrected)"
                side = difference["position_side"]
                rows.append([difference["instrument_id"], side, what, value.get("local"), value.get("exchange")])
    return rows


async def _reconcile(args: argparse.Namespace, settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
    async with _exchange(settings) as exchange:
        tracker = OrderTracker(exchange.client, session_factory=factory)
        result = await reconcile_with_exchange(exchange.client, factory, tracker, dry_run=args.dry_run)
    if result.orders:
        headers = ["ORDER ID", "EXCHANGE ORDER ID", "INSTRUMENT", "HERE", "ON THE EXCHANGE"]
        columns = ["order_id", "exchange_order_id", "instrument_id", "local", "exchange"]
        if not args.dry_run:
            headers.append("NOW")
            columns.append("outcome")
        rows = [[difference[column] for column in columns] for difference in result.orders]
        print("Open orders:")
        print(render(headers, rows))
    if result.positions:
        print("Positions:")
        print(render(["INSTRUMENT", "SIDE", "FIELD", "HERE", "ON THE EXCHANGE"], _position_rows(result.positions)))
    if not result.differences:
        print("No differences: the database agrees with the exchange.")
    elif args.dry_run:
        print(f"Dry run: {result.differences} difference(s) found; nothing was changed.")
    else:
        print(f"{result.differences} difference(s) found and corrected (each recorded as an event).")
    return 0


async def run(args: argparse.Namespace, settings: Settings, factory: async_sessionmaker[AsyncSession]) -> int:
    if args.command == "orders":
        return await _orders(args, factory)
    if args.command == "positions":
        return await _positions(args, factory)
    if args.command == "cancel-all":
        _report_cancels(await _cancel_all(settings, factory, args.instrument))
        return 0
    if args.command == "kill-switch":
        return await _kill_switch(args, settings, factory)
    return await _reconcile(args, settings, factory)
