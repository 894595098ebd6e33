"""A tiny projection and message builders for the framework's unit tests."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.records import EventRecord
from projections.apply import Message, RowCache
from projections.contract import Projection, Rows, handles

ORDER_A = "00000000-0000-4000-8000-00000000000a"
ORDER_B = "00000000-0000-4000-8000-00000000000b"


class EventCounts(Projection):
    """Counts events per order; fails on events whose data says ``fail`` (N times, or always)."""

    name = "event_counts"
    metadata = MetaData()
    counts = Table(
        "event_counts",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("events", Integer, nullable=False),
    )
    failures: ClassVar[dict[str, int]] = {}

    @handles("Order.Placed", "Order.Confirmed", "Order.Paid")
    def counted(self, rows: Rows, event: EventRecord) -> None:
        row = rows.get(self.counts, event.aggregate_id) or {"order_id": event.aggregate_id, "events": 0}
        rows.put(self.counts, {**row, "events": row["events"] + 1})
        left = self.failures.get(event.event_id)
        if left:
            self.failures[event.event_id] = left - 1
            raise RuntimeError(f"handler bug on {event.event_id}")


class DeadLetterCounts(EventCounts):
    name = "dead_letter_counts"
    metadata = MetaData()
    counts = EventCounts.counts.to_metadata(metadata, name="dead_letter_counts")
    error_policy = "dead-letter"


def event(order: str, version: int, event_type: str = "Order.Confirmed", **data: Any) -> EventRecord:
    return EventRecord(
        event_type=event_type,
        schema_version=1,
        aggregate_id=order,
        aggregate_version=version,
        occurred_at="2026-01-01T00:00:00+00:00",
        data=data,
    )


def messages(*events: EventRecord, partition: int = 0, start: int = 0) -> list[Message]:
    return [Message(partition, start + i, e, payload=b"{}") for i, e in enumerate(events)]


def poison(offset: int, key: str | None = None, partition: int = 0) -> Message:
    return Message(partition, offset, None, payload=b"\xff garbage", error="message value is not JSON", key=key)


class DictRows(RowCache):
    """A RowCache over a dict 'database' (what a previous batch committed)."""

    def __init__(self, stored: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.stored = stored if stored is not None else {}

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self.stored.get((table.name, key))
        return dict(row) if row is not None else None

    def commit(self) -> None:
        for table, upserts, deletes in self.changes():
            for row in upserts:
                self.stored[(table.name, tuple(row[c] for c in self.primary_key(table)))] = dict(row)
            for key in deletes:
                self.stored.pop((table.name, key), None)
        self.clear()

    def count(self, projection: type[EventCounts], order: str) -> int | None:
        row = self.get(projection.counts, order)
        return None if row is None else row["events"]
