"""payment reactor: its tables (branch "payment").

Revision ID: payment_0001
Depends on: the framework's reactors revision (the effects outbox)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "payment_0001"
down_revision = None
branch_labels = ("payment",)
depends_on = "0002_reactors"


def upgrade() -> None:
    op.create_table(
        "payment_versions",
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )


def downgrade() -> None:
    op.drop_table("payment_versions")
