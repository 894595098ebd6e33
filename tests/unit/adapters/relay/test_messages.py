"""Stored rows -> Kafka messages: the relay's encoding step, without a broker."""

from __future__ import annotations

import json

from adapters.kafka.envelope import HEADER_FIELDS, decode, encode
from adapters.relay.messages import (
    OutgoingMessage,
    encoder_for,
    lag,
    messages_of,
    outgoing_message,
)
from domain.records import EVENT_TYPES, event_id_for, record_of
from tests.unit.adapters.notifications import (
    as_notification,
    as_v1_placed,
    compressing_orders,
    in_memory_orders,
    notifications,
    one_of_each,
)


def _messages():
    orders = in_memory_orders()
    one_of_each(orders)
    stored = notifications(orders)
    return stored, messages_of(stored, encoder_for(orders)), orders


def reference_message(row, orders) -> OutgoingMessage:
    """The message as the envelope defines it, from the domain event (slow, obviously right)."""
    encoded = encode(record_of(orders.mapper.to_domain_event(as_notification(row))), position=row[0])
    return OutgoingMessage(row[0], encoded.key, encoded.value, encoded.headers)


def test_each_notification_becomes_one_message_in_log_order():
    stored, messages, _ = _messages()
    assert [m.position for m in messages] == [row[0] for row in stored]


def test_the_key_is_the_order_id():
    stored, messages, _ = _messages()
    assert [m.key for m in messages] == [row[1].encode() for row in stored]


def test_the_value_carries_the_notification_id_as_position():
    _, messages, _ = _messages()
    assert [decode(m.value)[1] for m in messages] == [m.position for m in messages]


def test_the_value_is_the_event_as_the_domain_records_it():
    stored, messages, orders = _messages()
    order_id = stored[0][1]
    history = orders.order_history(order_id)
    published = [decode(m.value)[0] for m in messages if m.key == str(order_id).encode()]
    assert published == history


def test_headers_repeat_the_envelope_fields_in_their_order():
    _, messages, _ = _messages()
    for m in messages:
        body = json.loads(m.value)
        assert m.headers == [(name, str(body[name]).encode()) for name in HEADER_FIELDS]


def test_event_ids_are_derived_from_order_id_and_version():
    stored, messages, _ = _messages()
    for row, m in zip(stored, messages, strict=True):
        assert json.loads(m.value)["event_id"] == event_id_for(row[1], row[2])


def test_a_stored_v1_placed_event_is_published_upcast_to_the_current_schema():
    stored, _, _ = _messages()
    body = json.loads(outgoing_message(as_v1_placed(stored[0])).value)
    assert (body["schema_version"], body["data"]["channel"]) == (2, "web")


def test_every_event_type_is_published_as_the_envelope_of_its_domain_record():
    stored, messages, orders = _messages()
    assert {json.loads(m.value)["event_type"] for m in messages} == set(EVENT_TYPES)
    assert messages == [reference_message(row, orders) for row in stored]


def test_an_upcast_event_is_published_as_the_envelope_of_its_domain_record():
    stored, _, orders = _messages()
    v1 = as_v1_placed(stored[0])
    assert outgoing_message(v1) == reference_message(v1, orders)


def test_plain_json_stores_are_encoded_in_one_pass():
    assert encoder_for(in_memory_orders()) is outgoing_message


def test_compressed_stores_are_published_as_the_envelope_of_their_domain_records():
    orders = compressing_orders()
    one_of_each(orders)
    stored = notifications(orders)
    assert messages_of(stored, encoder_for(orders)) == [reference_message(row, orders) for row in stored]


def test_lag_counts_notification_ids_after_the_checkpoint():
    assert lag(checkpoint=40, newest=45) == 5


def test_lag_of_an_empty_store_is_zero():
    assert lag(checkpoint=0, newest=None) == 0
