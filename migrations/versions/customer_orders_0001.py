"""customer_orders: its tables (branch "customer_orders").

Revision ID: customer_orders_0001
Depends on: the framework's base revision
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "customer_orders_0001"
down_revision = None
branch_labels = ("customer_orders",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "customer_orders",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("open_orders", sa.Integer(), nullable=False),
        # Fixed-width UTC ISO text (projections.values).
        sa.Column("last_order_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "customer_orders_value",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        # Money: integer thousandths (projections.columns.Money).
        sa.Column("lifetime_value", sa.BigInteger(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "currency"),
    )
    op.create_table(
        "customer_orders_orders",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "customer_orders_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("customer_orders_versions")
    op.drop_table("customer_orders_orders")
    op.drop_table("customer_orders_value")
    op.drop_table("customer_orders")
