"""order_events: the SQLite tests' projection (branch "order_events").

Revision ID: order_events_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "order_events_0001"
down_revision = None
branch_labels = ("order_events",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "order_events",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_type", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_order_events_last_type", "order_events", ["last_type"])
    op.create_table(
        "event_type_counts",
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_type"),
    )
    op.create_table(
        "order_events_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("order_events_versions")
    op.drop_table("event_type_counts")
    op.drop_index("ix_order_events_last_type", table_name="order_events")
    op.drop_table("order_events")
