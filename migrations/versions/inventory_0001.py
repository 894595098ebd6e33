"""inventory reactor: its tables (branch "inventory").

Revision ID: inventory_0001
Depends on: the framework's reactors revision (the effects outbox)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "inventory_0001"
down_revision = None
branch_labels = ("inventory",)
depends_on = "0002_reactors"


def upgrade() -> None:
    op.create_table(
        "inventory_orders",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("skus", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "inventory_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("inventory_versions")
    op.drop_table("inventory_orders")
