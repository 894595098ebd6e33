"""Kafka message values back to events: the usual case, old schemas, and what is poison."""

from __future__ import annotations

import json
from uuid import uuid5

import pytest

from adapters.eventstore.decoding import decoder_for
from adapters.kafka.envelope import PoisonMessageError, decode, encode
from domain.records import EVENT_ID_NAMESPACE
from tests.unit.adapters.notifications import in_memory_orders, notifications, one_of_each


def _records():
    orders = in_memory_orders()
    one_of_each(orders)
    decode_row = decoder_for(orders)
    return [(decode_row(row), row[0]) for row in notifications(orders)]


def _value(**changes) -> bytes:
    record, position = _records()[0]
    body = json.loads(encode(record, position).value)
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_every_encoded_event_decodes_to_the_same_record_and_position():
    for record, position in _records():
        assert decode(encode(record, position).value) == (record, position)


def test_a_decoded_events_id_is_derived_from_its_order_and_version_not_read_from_the_envelope():
    decoded, _ = decode(_value(event_id="not-the-derived-id"))
    assert decoded.event_id == str(uuid5(EVENT_ID_NAMESPACE, f"{decoded.aggregate_id}:{decoded.aggregate_version}"))


def test_a_v1_placed_event_is_upcast_and_labelled_with_the_current_schema_version():
    record, position = _records()[0]
    body = json.loads(encode(record, position).value)
    body["schema_version"] = 1
    del body["data"]["channel"]
    decoded, _ = decode(json.dumps(body).encode())
    assert (decoded.schema_version, decoded.data["channel"]) == (2, "web")


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "no value"),
        (b"\xff garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_value(event_id=...), "no 'event_id' field"),
        (_value(aggregate_id=7), "'aggregate_id' is not a string"),
        (_value(aggregate_version=True), "'aggregate_version' is not an integer"),
        (_value(data=[]), "'data' is not an object"),
        (_value(event_type="Order.Teleported"), "unknown event type 'Order.Teleported'"),
        (_value(schema_version=99), "newer than this code"),
    ],
)
def test_what_cannot_be_decoded_is_poison_with_a_reason(value, message):
    with pytest.raises(PoisonMessageError, match=message):
        decode(value)
