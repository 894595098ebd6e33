"""Real stored events, made in memory (eventsourcing's POPO recorder: no I/O)."""

from __future__ import annotations

import json
from uuid import UUID

from eventsourcing.persistence import Notification

from adapters.eventstore.log import StoredLog, StoredRow
from domain.application import Orders

ADDRESS = {"name": "Ada", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def in_memory_orders() -> Orders:
    return Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def compressing_orders() -> Orders:
    """Stores zlib-compressed states: not plain JSON, so the mapper's slow path reads them."""
    return Orders(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo", "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    )


def one_of_each(orders: Orders) -> None:
    """Orders whose histories hold every Order event type at least once."""
    a = orders.place_order("customer-1", [("BOOK-1", 1, "9.90"), ("MUG-2", 2, "4.50")], "EUR", "mobile")
    orders.add_line(a, "PEN-3", 3, "1.20")
    orders.change_quantity(a, "PEN-3", 4)
    orders.remove_line(a, "MUG-2")
    orders.set_shipping_address(a, ADDRESS)
    orders.confirm(a)
    orders.record_payment(a, "pay-1", orders.get_order(a).total, "EUR")
    orders.ship(a, "DHL", "TRACK-1")
    orders.mark_delivered(a)
    b = orders.place_order("customer-2", [("LAMP-4", 1, "49.99")], "USD", idempotency_key="key-1")
    orders.set_shipping_address(b, ADDRESS)
    orders.confirm(b)
    orders.record_payment(b, "pay-2", "49.99", "USD")
    orders.cancel(b, "changed my mind")


def notifications(orders: Orders) -> list[StoredRow]:
    """The stored log as the relay reads it: rows (id, order id, version, topic, state)."""
    return StoredLog(orders).read(0, 1000, inclusive=False)


def as_notification(row: StoredRow) -> Notification:
    """The row as eventsourcing's own ``Notification`` (for the slow, obvious path)."""
    position, originator_id, version, topic, state = row
    return Notification(
        id=position, originator_id=UUID(originator_id), originator_version=version, topic=topic, state=state
    )


def as_v1_placed(row: StoredRow) -> StoredRow:
    """The same stored ``Order.Placed`` as v1 (before ``channel`` existed)."""
    state = json.loads(row[4])
    state.pop("channel")
    state.pop("class_version")
    return (*row[:4], json.dumps(state).encode())
