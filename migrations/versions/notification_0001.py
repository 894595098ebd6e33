"""notification reactor: its tables (branch "notification").

Revision ID: notification_0001
Depends on: the framework's reactors revision (the effects outbox)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notification_0001"
down_revision = None
branch_labels = ("notification",)
depends_on = "0002_reactors"


def upgrade() -> None:
    op.create_table(
        "notification_orders",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "notification_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("notification_versions")
    op.drop_table("notification_orders")
