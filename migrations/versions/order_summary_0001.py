"""order_summary: its tables (branch "order_summary").

Revision ID: order_summary_0001
Depends on: the framework's base revision
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "order_summary_0001"
down_revision = None
branch_labels = ("order_summary",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "order_summary",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        # Money columns: integer thousandths (projections.columns.Money).
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=True),
        sa.Column("refund_due", sa.BigInteger(), nullable=True),
        # Times: fixed-width UTC ISO text (projections.values).
        sa.Column("placed_at", sa.String(32), nullable=False),
        sa.Column("confirmed_at", sa.String(32), nullable=True),
        sa.Column("paid_at", sa.String(32), nullable=True),
        sa.Column("shipped_at", sa.String(32), nullable=True),
        sa.Column("delivered_at", sa.String(32), nullable=True),
        sa.Column("cancelled_at", sa.String(32), nullable=True),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_order_summary_placed_at", "order_summary", ["placed_at"])
    op.create_table(
        "order_summary_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("order_summary_versions")
    op.drop_index("ix_order_summary_placed_at", table_name="order_summary")
    op.drop_table("order_summary")
