"""A plugin read model: how many orders each sales channel brought in.

Defined outside orderstream's own packages and registered by configuration
(``ORDERS_PROJECTIONS=tests.plugins.orders_per_channel:OrdersPerChannel``),
it brings its own Alembic revision (``migrations/``) and catches up from
offset zero like any built-in projection, with no change to the domain or
the relay.

Ordering and idempotency: per-channel counts are sums, so events of
different orders may arrive in any order; the framework applies each event
at most once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.records import EventRecord
from projections.contract import Projection, Rows, handles


class OrdersPerChannel(Projection):
    """Orders placed per channel."""

    name = "orders_per_channel"
    version = 1
    metadata = MetaData()
    migrations = Path(__file__).parent / "migrations"
    channels = Table(
        "orders_per_channel",
        metadata,
        Column("channel", String(16), primary_key=True),
        Column("orders", Integer, nullable=False),
    )

    @handles("Order.Placed")
    def placed(self, rows: Rows, event: EventRecord) -> None:
        channel = event.data["channel"]
        row = rows.get(self.channels, channel) or {"channel": channel, "orders": 0}
        rows.put(self.channels, {**row, "orders": row["orders"] + 1})
