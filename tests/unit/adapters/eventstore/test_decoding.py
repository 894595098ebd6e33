"""Stored events read straight into plain records equal the slow, obvious path."""

from __future__ import annotations

from adapters.eventstore.decoding import decode_stored, decoder_for
from adapters.eventstore.log import ORDER_SHARES, order_share
from domain.records import EVENT_TYPES, record_of
from tests.unit.adapters.notifications import (
    as_notification,
    as_v1_placed,
    in_memory_orders,
    notifications,
    one_of_each,
)


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


ORDER = "0b7e4c0e-56a8-4a4e-8f0a-3a1f1c6d2b1"  # an order id but its last hex digit


def test_the_share_of_an_order_is_the_value_of_its_ids_last_hex_digit_modulo_the_shares():
    assert order_share(ORDER + "f", 2) == 15 % 2
    assert order_share(ORDER + "7", 3) == 7 % 3
    assert order_share((ORDER + "A").replace("-", "").upper(), 4) == 10 % 4


def test_an_id_not_ending_in_a_hex_digit_still_falls_in_a_share():
    assert order_share("order-x", 3) == 15 % 3
    assert order_share("", 3) == 0


def test_two_four_eight_or_sixteen_shares_each_get_as_many_of_the_sixteen_last_digits():
    for count in (2, 4, 8, ORDER_SHARES):
        digits = [order_share(ORDER + d, count) for d in "0123456789abcdef"]
        assert [digits.count(k) for k in range(count)] == [16 // count] * count
