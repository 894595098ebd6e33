"""Events as plain records, and their schema evolution (upcasting)."""

from __future__ import annotations

from uuid import UUID, uuid5

import pytest

from domain.records import (
    EVENT_ID_NAMESPACE,
    EVENT_TYPES,
    SchemaVersionTooNewError,
    UnknownEventTypeError,
    event_id_for,
    record_of,
    schema_version_of,
    to_jsonable,
    upcast,
)
from domain.testing import given
from tests.unit.domain.histories import PAID_ORDER

V1_PLACED = {
    "customer_id": "customer-1",
    "currency": "EUR",
    "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}],
    "idempotency_key": None,
    "fingerprint": "f",
}


def test_upcasting_a_v1_placed_adds_the_web_channel():
    assert upcast("Order.Placed", 1, V1_PLACED) == {**V1_PLACED, "channel": "web"}


def test_upcasting_does_not_change_the_given_data():
    upcast("Order.Placed", 1, V1_PLACED)
    assert "channel" not in V1_PLACED


def test_upcasting_current_data_leaves_it_as_it_is():
    current = {**V1_PLACED, "channel": "mobile"}
    assert upcast("Order.Placed", 2, current) == current


def test_upcasting_a_schema_newer_than_the_code_is_refused():
    with pytest.raises(SchemaVersionTooNewError, match="upgrade orderstream"):
        upcast("Order.Placed", 3, V1_PLACED)


def test_upcasting_an_unknown_event_type_is_refused():
    with pytest.raises(UnknownEventTypeError):
        upcast("Order.Teleported", 1, {})


def test_placed_is_at_schema_version_2():
    assert schema_version_of("Order.Placed") == 2


def test_every_event_type_is_known_by_its_stable_topic():
    assert sorted(EVENT_TYPES) == sorted(
        f"Order.{name}"
        for name in (
            "Placed", "LineAdded", "LineRemoved", "QuantityChanged", "ShippingAddressSet",
            "Confirmed", "Paid", "Shipped", "Delivered", "Cancelled",
        )
    )


def test_an_event_record_carries_plain_json_values():
    paid = given(*PAID_ORDER).history[-1]
    record = record_of(paid)
    assert (record.event_type, record.schema_version, record.aggregate_version, record.data) == (
        "Order.Paid",
        1,
        4,
        {"payment_reference": "pay-1", "amount": "20.00"},
    )


def test_an_event_id_is_the_same_for_the_same_aggregate_and_version():
    order_id = UUID("3f2b8c1e-9a4d-4f6e-b1c2-7d8e9f0a1b2c")
    assert event_id_for(order_id, 3) == event_id_for(str(order_id), 3) != event_id_for(order_id, 4)


def test_an_event_id_is_the_uuid5_of_its_order_and_version_in_the_event_id_namespace():
    for n in range(300):  # every hex digit in every position of the hash, many times over
        order_id = str(UUID(int=n * 0x0123456789ABCDEF0123456789ABCDEF % 2**128))
        version = n % 17 + 1
        assert event_id_for(order_id, version) == str(uuid5(EVENT_ID_NAMESPACE, f"{order_id}:{version}"))


def test_a_records_event_id_follows_its_order_and_version():
    paid = record_of(given(*PAID_ORDER).history[-1])
    moved = paid._replace(aggregate_version=7)
    assert (paid.event_id, moved.event_id) == (
        str(uuid5(EVENT_ID_NAMESPACE, f"{paid.aggregate_id}:{paid.aggregate_version}")),
        str(uuid5(EVENT_ID_NAMESPACE, f"{paid.aggregate_id}:7")),
    )


def test_a_records_dict_and_json_form_carry_its_event_id():
    paid = record_of(given(*PAID_ORDER).history[-1])
    assert paid.as_dict()["event_id"] == to_jsonable(paid)["event_id"] == paid.event_id
