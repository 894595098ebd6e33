"""framework: projection checkpoints, projection state, dead letters

The base revision of the read-model database. Projections bring their own
tables in their own branches (``down_revision = None``, ``branch_labels =
("<projection name>",)``, ``depends_on = "0001_framework"``).

Revision ID: 0001_framework
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_framework"
down_revision = None
branch_labels = ("framework",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projection_checkpoints",
        sa.Column("projection", sa.String(100), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("projection", "target", "partition"),
    )
    op.create_table(
        "projection_state",
        sa.Column("projection", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failing_event_id", sa.String(64), nullable=True),
        sa.Column("failing_partition", sa.Integer(), nullable=True),
        sa.Column("failing_offset", sa.BigInteger(), nullable=True),
        sa.Column("rebuild_fingerprint", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("projection"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("projection", sa.String(100), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("aggregate_id", sa.String(64), nullable=True),
        sa.Column("aggregate_version", sa.Integer(), nullable=True),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("projection", "target", "partition", "offset", name="uq_dead_letters_position"),
    )
    op.create_index(
        "ix_dead_letters_projection_status", "dead_letters", ["projection", "target", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_dead_letters_projection_status", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_table("projection_state")
    op.drop_table("projection_checkpoints")
