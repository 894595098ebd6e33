"""framework: the reactors' effects outbox and the offsets their effects are delivered from

Revision ID: 0002_reactors
Revises: 0001_framework
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_reactors"
down_revision = "0001_framework"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reactor_effects",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("reactor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_reactor_effects_key"),
    )
    op.create_index("ix_reactor_effects_due", "reactor_effects", ["status", "next_attempt_at"])
    op.create_index("ix_reactor_effects_reactor_status", "reactor_effects", ["reactor", "status"])
    op.create_index("ix_reactor_effects_order", "reactor_effects", ["reactor", "aggregate_id", "status"])
    op.create_table(
        "reactor_live_from",
        sa.Column("reactor", sa.String(100), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("live_from", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reactor", "partition"),
    )


def downgrade() -> None:
    op.drop_table("reactor_live_from")
    op.drop_index("ix_reactor_effects_order", table_name="reactor_effects")
    op.drop_index("ix_reactor_effects_reactor_status", table_name="reactor_effects")
    op.drop_index("ix_reactor_effects_due", table_name="reactor_effects")
    op.drop_table("reactor_effects")
