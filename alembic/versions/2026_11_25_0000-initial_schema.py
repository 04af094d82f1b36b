"""Initial schema: orders, trades, positions, execution events, parent executions and API keys.

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-25 01:29:41.212407+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

from app.models.types import ExactDecimal, UTCDateTime

revision: str = "0001_initial_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_used_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index('ix_api_keys_key_prefix', ['key_prefix'], unique=False)

    op.create_table('executions',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('algorithm', sa.Enum('market', 'limit', 'twap', 'iceberg', name='executionalgorithm', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'completed', 'canceled', 'failed', name='executionstatus', native_enum=False, length=32), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.Enum('buy', 'sell', name='orderside', native_enum=False, length=32), nullable=False),
    sa.Column('target_size', ExactDecimal(), nullable=False),
    sa.Column('filled_size', ExactDecimal(), nullable=False),
    sa.Column('limit_price', ExactDecimal(), nullable=True),
    sa.Column('average_fill_price', ExactDecimal(), nullable=True),
    sa.Column('arrival_price', ExactDecimal(), nullable=True),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('slices_total', sa.Integer(), nullable=True),
    sa.Column('slices_done', sa.Integer(), nullable=False),
    sa.Column('next_slice_at', UTCDateTime(), nullable=True),
    sa.Column('strategy_id', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_executions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_executions_idempotency_key'))
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_instrument_id_created_at', ['instrument_id', 'created_at'], unique=False)
        batch_op.create_index('ix_executions_status', ['status'], unique=False)
        batch_op.create_index('ix_executions_strategy_id_created_at', ['strategy_id', 'created_at'], unique=False)

    op.create_table('positions',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('position_side', sa.Enum('net', 'long', 'short', name='positionside', native_enum=False, length=32), nullable=False),
    sa.Column('instrument_type', sa.Enum('SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION', name='instrumenttype', native_enum=False, length=32), nullable=False),
    sa.Column('trade_mode', sa.Enum('cash', 'cross', 'isolated', name='trademode', native_enum=False, length=32), nullable=False),
    sa.Column('size', ExactDecimal(), nullable=False),
    sa.Column('average_entry_price', ExactDecimal(), nullable=True),
    sa.Column('contract_multiplier', ExactDecimal(), nullable=False),
    sa.Column('current_price', ExactDecimal(), nullable=True),
    sa.Column('unrealized_pnl', ExactDecimal(), nullable=False),
    sa.Column('realized_pnl', ExactDecimal(), nullable=False),
    sa.Column('margin', ExactDecimal(), nullable=True),
    sa.Column('leverage', ExactDecimal(), nullable=True),
    sa.Column('liquidation_price', ExactDecimal(), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_positions')),
    sa.UniqueConstraint('instrument_id', 'position_side', name=op.f('uq_positions_instrument_id_position_side'))
    )
    op.create_table('orders',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('client_order_id', sa.String(length=32), nullable=True),
    sa.Column('exchange_order_id', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('instrument_type', sa.Enum('SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION', name='instrumenttype', native_enum=False, length=32), nullable=False),
    sa.Column('side', sa.Enum('buy', 'sell', name='orderside', native_enum=False, length=32), nullable=False),
    sa.Column('order_type', sa.Enum('market', 'limit', 'post_only', 'fok', 'ioc', 'optimal_limit_ioc', name='ordertype', native_enum=False, length=32), nullable=False),
    sa.Column('trade_mode', sa.Enum('cash', 'cross', 'isolated', name='trademode', native_enum=False, length=32), nullable=False),
    sa.Column('position_side', sa.Enum('net', 'long', 'short', name='positionside', native_enum=False, length=32), nullable=True),
    sa.Column('target_currency', sa.String(length=16), nullable=True),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('size', ExactDecimal(), nullable=False),
    sa.Column('price', ExactDecimal(), nullable=True),
    sa.Column('filled_size', ExactDecimal(), nullable=False),
    sa.Column('average_fill_price', ExactDecimal(), nullable=True),
    sa.Column('arrival_price', ExactDecimal(), nullable=True),
    sa.Column('status', sa.Enum('pending_submit', 'unknown', 'live', 'partially_filled', 'pending_cancel', 'filled', 'canceled', 'rejected', 'failed', 'expired', name='orderstatus', native_enum=False, length=32), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('strategy_id', sa.String(length=64), nullable=True),
    sa.Column('execution_id', BIGINT_ID, nullable=True),
    sa.Column('is_external', sa.Boolean(), nullable=False),
    sa.Column('meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('submit_expires_at', UTCDateTime(), nullable=True),
    sa.Column('submitted_at', UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('exchange_updated_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_orders_execution_id_executions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_orders_client_order_id')),
    sa.UniqueConstraint('exchange_order_id', name=op.f('uq_orders_exchange_order_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_orders_idempotency_key'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_execution_id', ['execution_id'], unique=False)
        batch_op.create_index('ix_orders_instrument_id_status', ['instrument_id', 'status'], unique=False)
        batch_op.create_index('ix_orders_status', ['status'], unique=False)
        batch_op.create_index('ix_orders_strategy_id_created_at', ['strategy_id', 'created_at'], unique=False)

    op.create_table('trades',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('order_id', BIGINT_ID, nullable=False),
    sa.Column('exchange_trade_id', sa.String(length=64), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.Enum('buy', 'sell', name='orderside', native_enum=False, length=32), nullable=False),
    sa.Column('price', ExactDecimal(), nullable=False),
    sa.Column('size', ExactDecimal(), nullable=False),
    sa.Column('fee', ExactDecimal(), nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=True),
    sa.Column('liquidity', sa.Enum('maker', 'taker', name='liquidity', native_enum=False, length=32), nullable=True),
    sa.Column('realized_pnl', ExactDecimal(), nullable=False),
    sa.Column('closed_size', ExactDecimal(), nullable=False),
    sa.Column('strategy_id', sa.String(length=64), nullable=True),
    sa.Column('execution_id', BIGINT_ID, nullable=True),
    sa.Column('executed_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_trades_execution_id_executions')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_trades_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trades')),
    sa.UniqueConstraint('instrument_id', 'exchange_trade_id', name=op.f('uq_trades_instrument_id_exchange_trade_id'))
    )
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index('ix_trades_executed_at_id', ['executed_at', 'id'], unique=False)
        batch_op.create_index('ix_trades_instrument_id_executed_at', ['instrument_id', 'executed_at'], unique=False)
        batch_op.create_index('ix_trades_order_id', ['order_id'], unique=False)
        batch_op.create_index('ix_trades_strategy_id_executed_at', ['strategy_id', 'executed_at'], unique=False)

    op.create_table('execution_events',
    sa.Column('id', BIGINT_ID, autoincrement=True, nullable=False),
    sa.Column('event_type', sa.Enum('order_created', 'order_status_changed', 'order_filled', 'order_canceled', 'order_rejected', 'order_reconciled', 'position_opened', 'position_updated', 'position_closed', 'position_synced', 'risk_check_failed', 'reconciliation_difference', 'kill_switch_changed', 'execution_started', 'execution_progress', 'execution_finished', name='executioneventtype', native_enum=False, length=48), nullable=False),
    sa.Column('order_id', BIGINT_ID, nullable=True),
    sa.Column('trade_id', BIGINT_ID, nullable=True),
    sa.Column('position_id', BIGINT_ID, nullable=True),
    sa.Column('execution_id', BIGINT_ID, nullable=True),
    sa.Column('instrument_id', sa.String(length=64), nullable=True),
    sa.Column('strategy_id', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_execution_events_execution_id_executions')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_execution_events_order_id_orders')),
    sa.ForeignKeyConstraint(['position_id'], ['positions.id'], name=op.f('fk_execution_events_position_id_positions')),
    sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_execution_events_trade_id_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_execution_events'))
    )
    with op.batch_alter_table('execution_events', schema=None) as batch_op:
        batch_op.create_index('ix_execution_events_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_execution_events_event_type_created_at', ['event_type', 'created_at'], unique=False)
        batch_op.create_index('ix_execution_events_execution_id', ['execution_id'], unique=False)
        batch_op.create_index('ix_execution_events_order_id', ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('execution_events', schema=None) as batch_op:
        batch_op.drop_index('ix_execution_events_order_id')
        batch_op.drop_index('ix_execution_events_execution_id')
        batch_op.drop_index('ix_execution_events_event_type_created_at')
        batch_op.drop_index('ix_execution_events_created_at_id')

    op.drop_table('execution_events')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_index('ix_trades_strategy_id_executed_at')
        batch_op.drop_index('ix_trades_order_id')
        batch_op.drop_index('ix_trades_instrument_id_executed_at')
        batch_op.drop_index('ix_trades_executed_at_id')

    op.drop_table('trades')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_strategy_id_created_at')
        batch_op.drop_index('ix_orders_status')
        batch_op.drop_index('ix_orders_instrument_id_status')
        batch_op.drop_index('ix_orders_execution_id')
        batch_op.drop_index('ix_orders_created_at_id')

    op.drop_table('orders')
    op.drop_table('positions')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index('ix_executions_strategy_id_created_at')
        batch_op.drop_index('ix_executions_status')
        batch_op.drop_index('ix_executions_instrument_id_created_at')

    op.drop_table('executions')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_api_keys_key_prefix')

    op.drop_table('api_keys')
