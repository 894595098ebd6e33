"""A plugin read model with the ``dead-letter`` policy whose handler fails on demand.

Registered by configuration
(``ORDERS_PROJECTIONS=tests.plugins.failing_projection:OrderProgress``), it
keeps per order the number of events applied and the last version and type.
``ORDERS_TEST_FAIL_EVENTS`` (comma-separated ``ORDER_ID:VERSION``) makes its
handler raise for those events: the failure's cause, which a test "fixes" by
unsetting the variable before ``orders projections retry order_progress``.

Ordering and idempotency: each row depends on one order's events only, which
the framework applies once each, in version order (a parked order waits).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.records import EVENT_TYPES, EventRecord
from projections.contract import Projection, Rows, handles

FAIL_EVENTS = "ORDERS_TEST_FAIL_EVENTS"


class InjectedHandlerError(RuntimeError):
    """The failure a test asked for."""


class OrderProgress(Projection):
    """Events applied per order (dead-letter policy; fails where a test says)."""

    name = "order_progress"
    version = 1
    error_policy = "dead-letter"
    metadata = MetaData()
    migrations = Path(__file__).parent / "migrations"
    orders = Table(
        "order_progress",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("events", Integer, nullable=False),
        Column("last_version", Integer, nullable=False),
        Column("last_type", String(40), nullable=False),
    )

    @handles(*EVENT_TYPES)
    def progressed(self, rows: Rows, event: EventRecord) -> None:
        if f"{event.aggregate_id}:{event.aggregate_version}" in os.environ.get(FAIL_EVENTS, "").split(","):
            raise InjectedHandlerError(f"{FAIL_EVENTS} fails {event.aggregate_id}:{event.aggregate_version}")
        row = rows.get(self.orders, event.aggregate_id) or {"order_id": event.aggregate_id, "events": 0}
        rows.put(
            self.orders,
            {
                **row,
                "events": row["events"] + 1,
                "last_version": event.aggregate_version,
                "last_type": event.event_type,
            },
        )
