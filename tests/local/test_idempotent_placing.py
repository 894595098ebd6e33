"""Placing with an idempotency key: a retry returns the same order (contract tests)."""

from __future__ import annotations

import pytest

from domain.errors import IdempotencyKeyConflictError

LINES = [("SKU-1", 2, "10.00")]


def test_placing_twice_with_the_same_key_and_payload_returns_the_same_id(orders_app):
    first = orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    assert orders_app.place_order("customer-1", LINES, idempotency_key="key-1") == first


def test_placing_twice_with_the_same_key_and_payload_records_one_placed_event(orders_app):
    order_id = orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    assert [r.event_type for r in orders_app.order_history(order_id)] == ["Order.Placed"]


def test_a_retry_after_the_order_moved_on_still_returns_it(orders_app):
    order_id = orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    orders_app.change_quantity(order_id, "SKU-1", 5)
    assert orders_app.place_order("customer-1", LINES, idempotency_key="key-1") == order_id


def test_a_retry_with_an_equivalent_payload_is_recognised(orders_app):
    order_id = orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    assert orders_app.place_order(" customer-1 ", [("SKU-1", "2", "10")], "eur", idempotency_key="key-1") == order_id


@pytest.mark.parametrize(
    "customer, lines, currency",
    [
        ("customer-2", LINES, "EUR"),
        ("customer-1", [("SKU-1", 3, "10.00")], "EUR"),
        ("customer-1", [("SKU-1", 2, "10.00")], "USD"),
    ],
    ids=["other-customer", "other-lines", "other-currency"],
)
def test_the_same_key_with_another_payload_is_refused(orders_app, customer, lines, currency):
    orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    with pytest.raises(IdempotencyKeyConflictError, match="use a new key for a new order"):
        orders_app.place_order(customer, lines, currency, idempotency_key="key-1")


def test_different_keys_place_different_orders(orders_app):
    first = orders_app.place_order("customer-1", LINES, idempotency_key="key-1")
    assert orders_app.place_order("customer-1", LINES, idempotency_key="key-2") != first


def test_a_key_is_shared_by_every_application_on_the_store(open_app):
    first = open_app().place_order("customer-1", LINES, idempotency_key="key-1")
    assert open_app().place_order("customer-1", LINES, idempotency_key="key-1") == first
