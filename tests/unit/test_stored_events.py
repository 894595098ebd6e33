"""Stored events read straight into plain records equal the slow, obvious path."""

from __future__ import annotations

from domain.events import EVENT_TYPES, record_of
from adapters.stored_events import decode_stored, decoder_for
from tests.unit.relay.notifications import as_notification, as_v1_placed, in_memory_orders, notifications, one_of_each


def _stored():
    orders = in_memory_orders()
    one_of_each(orders)
    return orders, notifications(orders)


def test_every_event_type_reads_as_the_domain_records_it():
    orders, stored = _stored()
    decode = decoder_for(orders)
    assert {row[3] for row in stored} == set(EVENT_TYPES)
    for row in stored:
        assert decode(row) == record_of(orders.mapper.to_domain_event(as_notification(row)))


def test_a_v1_placed_event_reads_upcast_to_the_current_schema():
    orders, stored = _stored()
    v1 = as_v1_placed(stored[0])
    record = decode_stored(v1[3], v1[1], v1[2], v1[4])
    assert record == record_of(orders.mapper.to_domain_event(as_notification(v1)))
    assert (record.schema_version, record.data["channel"]) == (2, "web")
