"""A tiny projection for the runner's tests, with its own Alembic revision, and its fixtures (a pytest plugin).

``order_events`` counts each order's events (keyed by order id: prefetched
per batch, with a secondary index) and ``event_type_counts`` counts events per
type (shared rows, loaded lazily). ``fail_on`` makes the handler raise for
chosen event ids, to exercise the error policies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, select

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.sql.engines import create_read_model_engine
from domain.application import Orders
from domain.records import EventRecord
from projections.contract import Projection, Rows, handles
from tests.systems import migrate

ALL_EVENTS = (
    "Order.Placed", "Order.LineAdded", "Order.LineRemoved", "Order.QuantityChanged",
    "Order.ShippingAddressSet", "Order.Confirmed", "Order.Paid", "Order.Shipped",
    "Order.Delivered", "Order.Cancelled",
)


class OrderEvents(Projection):
    """Events per order and per event type."""

    name = "order_events"
    version = 1
    metadata = MetaData()
    migrations = Path(__file__).parent / "migrations"
    orders = Table(
        "order_events",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("events", Integer, nullable=False),
        Column("last_type", String(40), nullable=False),
        Index("ix_order_events_last_type", "last_type"),
    )
    types = Table(
        "event_type_counts",
        metadata,
        Column("event_type", String(40), primary_key=True),
        Column("events", Integer, nullable=False),
    )
    fail_on: ClassVar[set[str]] = set()

    @handles(*ALL_EVENTS)
    def counted(self, rows: Rows, event: EventRecord) -> None:
        row = rows.get(self.orders, event.aggregate_id) or {"order_id": event.aggregate_id, "events": 0}
        rows.put(self.orders, {**row, "events": row["events"] + 1, "last_type": event.event_type})
        kind = rows.get(self.types, event.event_type) or {"event_type": event.event_type, "events": 0}
        rows.put(self.types, {**kind, "events": kind["events"] + 1})
        if event.event_id in self.fail_on:
            raise RuntimeError(f"cannot count {event.event_id}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        event_store_url=f"sqlite:///{tmp_path}/events.db",
        read_model_url=f"sqlite:///{tmp_path}/read_models.db",
        mail_dir=f"{tmp_path}/mail",  # never the working directory's var/mail
    )


@pytest.fixture
def orders(settings: Settings) -> Iterator[Orders]:
    app = open_orders(settings)
    yield app
    app.close()


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    migrate(settings, [OrderEvents])
    return settings


@pytest.fixture(autouse=True)
def no_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OrderEvents, "fail_on", set())


def simulate(orders: Orders, n_orders: int = 25, seed: int = 3) -> None:
    simulate_day(orders, n_orders, n_customers=10, seed=seed)


def table_rows(settings: Settings, table: Table) -> list[dict[str, Any]]:
    """Every row of ``table`` (by name, live), ordered by primary key."""
    engine = create_read_model_engine(settings.read_model_url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()]
    finally:
        engine.dispose()


def counts(settings: Settings) -> dict[str, int]:
    """Events per order, as order_events counted them."""
    return {r["order_id"]: r["events"] for r in table_rows(settings, OrderEvents.orders)}


def snapshot(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return {t.name: table_rows(settings, t) for t in OrderEvents.tables()}


def expected_counts(orders: Orders) -> dict[str, int]:
    """Events per order, from the event store itself."""
    counts: dict[str, int] = {}
    for n in orders.recorder.select_notifications(start=0, limit=1_000_000):
        counts[str(n.originator_id)] = counts.get(str(n.originator_id), 0) + 1
    return counts
