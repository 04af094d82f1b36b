"""Cheaper writes on the order path: the audit log without foreign keys, sparse columns indexed only where set.

Under load (`benchmarks/load.py`), PostgreSQL spent ~9 % of its CPU per order in the foreign-key checks of
`execution_events` (~3.7 events per order, each a locking read of the order, trade or position it names; perf,
2026-12-06) and ~18 % inserting index entries, ~1 in 5 of them for a NULL that no lookup reads: every row version of
an order (the write-ahead, the acknowledgement, the final state: three) added one to the index of
`exchange_order_id` until acknowledged, and of `idempotency_key` and `execution_id` when it has none, and every
event one for its `execution_id`. Those indexes now hold only the rows where the column is set; the unique ones
are unique where set, as before (NULLs never collided). Events are written in the same statement or transaction as
the rows they name, none of which is ever deleted.

Revision ID: 0004_cheaper_order_writes
Revises: 0003_tracker_lag
Create Date: 2026-12-06 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_cheaper_order_writes"
down_revision: str | None = "0003_tracker_lag"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_FOREIGN_KEYS = (
    ("fk_execution_events_order_id_orders", "order_id", "orders"),
    ("fk_execution_events_trade_id_trades", "trade_id", "trades"),
    ("fk_execution_events_position_id_positions", "position_id", "positions"),
    ("fk_execution_events_execution_id_executions", "execution_id", "executions"),
)


def _where_set(column: str) -> dict[str, sa.TextClause]:
    condition = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": condition, "sqlite_where": condition}


def upgrade() -> None:
    with op.batch_alter_table("execution_events", schema=None) as batch_op:
        for name, _, _ in EVENT_FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.drop_index("ix_execution_events_execution_id")
        batch_op.create_index("ix_execution_events_execution_id", ["execution_id"], **_where_set("execution_id"))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_exchange_order_id", type_="unique")
        batch_op.drop_constraint("uq_orders_idempotency_key", type_="unique")
        batch_op.drop_index("ix_orders_execution_id")
        batch_op.create_index(
            "uq_orders_exchange_order_id", ["exchange_order_id"], unique=True, **_where_set("exchange_order_id")
        )
        batch_op.create_index(
            "uq_orders_idempotency_key", ["idempotency_key"], unique=True, **_where_set("idempotency_key")
        )
        batch_op.create_index("ix_orders_execution_id", ["execution_id"], **_where_set("execution_id"))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_execution_id")
        batch_op.drop_index("uq_orders_idempotency_key")
        batch_op.drop_index("uq_orders_exchange_order_id")
        batch_op.create_index("ix_orders_execution_id", ["execution_id"])
        batch_op.create_unique_constraint("uq_orders_idempotency_key", ["idempotency_key"])
        batch_op.create_unique_constraint("uq_orders_exchange_order_id", ["exchange_order_id"])
    with op.batch_alter_table("execution_events", schema=None) as batch_op:
        batch_op.drop_index("ix_execution_events_execution_id")
        batch_op.create_index("ix_execution_events_execution_id", ["execution_id"])
        for name, column, table in EVENT_FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"])
