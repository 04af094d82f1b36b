"""The leader's report of how far its applied fills are behind the exchange (`tracker_lag`, one row).

Revision ID: 0003_tracker_lag
Revises: 0002_trade_daily_summaries
Create Date: 2026-11-30 03:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

revision: str = "0003_tracker_lag"
down_revision: str | None = "0002_trade_daily_summaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracker_lag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("behind_s", sa.Float(), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_lag")),
    )


def downgrade() -> None:
    op.drop_table("tracker_lag")
