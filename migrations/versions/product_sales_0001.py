"""product_sales: its tables (branch "product_sales").

Revision ID: product_sales_0001
Depends on: the framework's base revision
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "product_sales_0001"
down_revision = None
branch_labels = ("product_sales",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "product_sales",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("units_ordered", sa.Integer(), nullable=False),
        sa.Column("units_paid", sa.Integer(), nullable=False),
        sa.Column("units_cancelled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_table(
        "product_sales_revenue",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        # Money: integer thousandths (projections.columns.Money).
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("units_paid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "currency"),
    )
    op.create_table(
        "product_sales_orders",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "product_sales_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("product_sales_versions")
    op.drop_table("product_sales_orders")
    op.drop_table("product_sales_revenue")
    op.drop_table("product_sales")
