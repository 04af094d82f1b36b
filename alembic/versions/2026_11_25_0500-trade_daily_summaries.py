"""Trade daily summaries for fast analytics, and each trade's contract multiplier.

`trades.contract_multiplier` makes a fill's notional (price × size × multiplier) a fact of the fill; existing rows
take their instrument's multiplier from `positions` (1 where there is none). `trade_daily_summaries` is filled from
the existing trades, with the same rule as `app.services.trading.daily_summary` (written out here: a migration must
not change when the application code does).

Revision ID: 0002_trade_daily_summaries
Revises: 0001_initial_schema
Create Date: 2026-11-25 05:00:00+00:00
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from decimal import Context, Decimal, localcontext

import sqlalchemy as sa
from alembic import op

from app.models.types import ExactDecimal, UTCDateTime

revision: str = "0002_trade_daily_summaries"
down_revision: str | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMMARY_COLUMNS = (
    "day, instrument_id, strategy_id, fee_currency, trades, closing_trades, wins, losses, realized_pnl, "
    "gross_profit, gross_loss, best_closing_pnl, worst_closing_pnl, fees, volume"
)


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch_op:
        batch_op.add_column(sa.Column("contract_multiplier", ExactDecimal(), nullable=True))
    op.execute(
        "UPDATE trades SET contract_multiplier = (SELECT max(p.contract_multiplier) FROM positions p "
        "WHERE p.instrument_id = trades.instrument_id)"
    )
    op.execute("UPDATE trades SET contract_multiplier = '1' WHERE contract_multiplier IS NULL")
    with op.batch_alter_table("trades") as batch_op:
        batch_op.alter_column("contract_multiplier", existing_type=ExactDecimal(), nullable=False)

    op.create_table(
        "trade_daily_summaries",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("strategy_id", sa.String(length=64), nullable=False),
        sa.Column("fee_currency", sa.String(length=16), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("closing_trades", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("realized_pnl", ExactDecimal(), nullable=False),
        sa.Column("gross_profit", ExactDecimal(), nullable=False),
        sa.Column("gross_loss", ExactDecimal(), nullable=False),
        sa.Column("best_closing_pnl", ExactDecimal(), nullable=True),
        sa.Column("worst_closing_pnl", ExactDecimal(), nullable=True),
        sa.Column("fees", ExactDecimal(), nullable=False),
        sa.Column("volume", ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "instrument_id", "strategy_id", "fee_currency", name=op.f("pk_trade_daily_summaries")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO trade_daily_summaries ({SUMMARY_COLUMNS}) "
            "SELECT (executed_at AT TIME ZONE 'UTC')::date, instrument_id, coalesce(strategy_id, ''), "
            "coalesce(fee_currency, ''), count(*), count(*) FILTER (WHERE closed_size > 0), "
            "count(*) FILTER (WHERE closed_size > 0 AND realized_pnl > 0), "
            "count(*) FILTER (WHERE closed_size > 0 AND realized_pnl < 0), sum(realized_pnl), "
            "coalesce(sum(realized_pnl) FILTER (WHERE closed_size > 0 AND realized_pnl > 0), 0), "
            "coalesce(sum(realized_pnl) FILTER (WHERE closed_size > 0 AND realized_pnl < 0), 0), "
            "max(realized_pnl) FILTER (WHERE closed_size > 0), min(realized_pnl) FILTER (WHERE closed_size > 0), "
            "sum(fee), sum(price * size * contract_multiplier) FROM trades GROUP BY 1, 2, 3, 4"
        )
    else:
        _backfill_in_python()


def _backfill_in_python() -> None:
    """SQLite keeps money as text: fold the trades with Decimal."""
    trades = sa.table(
        "trades",
        sa.column("executed_at", UTCDateTime()),
        sa.column("instrument_id", sa.String()),
        sa.column("strategy_id", sa.String()),
        sa.column("fee_currency", sa.String()),
        *(
            sa.column(name, ExactDecimal())
            for name in ("realized_pnl", "closed_size", "fee", "price", "size", "contract_multiplier")
        ),
    )
    summaries: dict[tuple, dict] = defaultdict(
        lambda: dict.fromkeys(("trades", "closing_trades", "wins", "losses"), 0)
        | dict.fromkeys(("realized_pnl", "gross_profit", "gross_loss", "fees", "volume"), Decimal(0))
        | {"best_closing_pnl": None, "worst_closing_pnl": None}
    )
    rows = op.get_bind().execute(sa.select(trades))
    with localcontext(Context(prec=1000)):  # exact sums, whatever the number of digits
        _fold(rows, summaries)
    table = sa.table(
        "trade_daily_summaries",
        *(sa.column(name, ExactDecimal()) for name in ("realized_pnl", "gross_profit", "gross_loss")),
        *(sa.column(name, ExactDecimal()) for name in ("best_closing_pnl", "worst_closing_pnl", "fees", "volume")),
        sa.column("day", sa.Date()),
        *(sa.column(name) for name in ("instrument_id", "strategy_id", "fee_currency")),
        *(sa.column(name) for name in ("trades", "closing_trades", "wins", "losses")),
    )
    new_rows = [
        {"day": day, "instrument_id": i, "strategy_id": s, "fee_currency": c, **values}
        for (day, i, s, c), values in summaries.items()
    ]
    if new_rows:
        op.bulk_insert(table, new_rows)


def _fold(rows: sa.CursorResult, summaries: dict[tuple, dict]) -> None:
    for row in rows:
        key = (row.executed_at.astimezone(UTC).date(), row.instrument_id, row.strategy_id or "", row.fee_currency or "")
        pnl, closing, summary = row.realized_pnl, row.closed_size > 0, summaries[key]
        summary["trades"] += 1
        summary["realized_pnl"] += pnl
        summary["fees"] += row.fee
        summary["volume"] += row.price * row.size * row.contract_multiplier
        if closing:
            summary["closing_trades"] += 1
            summary["wins"] += pnl > 0
            summary["losses"] += pnl < 0
            summary["gross_profit"] += max(pnl, Decimal(0))
            summary["gross_loss"] += min(pnl, Decimal(0))
            best, worst = summary["best_closing_pnl"], summary["worst_closing_pnl"]
            summary["best_closing_pnl"] = pnl if best is None else max(best, pnl)
            summary["worst_closing_pnl"] = pnl if worst is None else min(worst, pnl)


def downgrade() -> None:
    op.drop_table("trade_daily_summaries")
    with op.batch_alter_table("trades") as batch_op:
        batch_op.drop_column("contract_multiplier")
