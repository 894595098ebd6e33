"""order_progress: the failing test plugin's tables (branch "order_progress").

Revision ID: order_progress_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "order_progress_0001"
down_revision = None
branch_labels = ("order_progress",)
depends_on = "0001_framework"


def upgrade() -> None:
    op.create_table(
        "order_progress",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("last_type", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "order_progress_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("order_progress_versions")
    op.drop_table("order_progress")
