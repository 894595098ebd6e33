"""orders_per_channel: its tables (branch "orders_per_channel").

Revision ID: orders_per_channel_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_per_channel_0001"
down_revision = None
branch_labels = ("orders_per_channel",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "orders_per_channel",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "orders_per_channel_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("orders_per_channel_versions")
    op.drop_table("orders_per_channel")
