"""The ``Orders`` domain API end to end on a real event store (contract tests)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    InvalidTransitionError,
    LineNotFoundError,
    OrderNotFoundError,
    PaymentReferenceConflictError,
)
from domain.order import OrderStatus

ADDRESS = {"name": "Sam Doe", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


@pytest.fixture
def order_id(orders_app) -> UUID:
    return orders_app.place_order("customer-1", [("SKU-1", 2, "10.00")])


@pytest.fixture
def confirmed_id(orders_app, order_id) -> UUID:
    orders_app.set_shipping_address(order_id, ADDRESS)
    orders_app.confirm(order_id)
    return order_id


@pytest.fixture
def paid_id(orders_app, confirmed_id) -> UUID:
    orders_app.record_payment(confirmed_id, "pay-1", "20.00", "EUR")
    return confirmed_id


@pytest.fixture
def shipped_id(orders_app, paid_id) -> UUID:
    orders_app.ship(paid_id, "DHL", "TRK-1")
    return paid_id


def test_place_order_stores_a_placed_order(orders_app, order_id):
    view = orders_app.get_order(order_id)
    assert (view.status, view.customer_id, view.total, view.version) == (
        OrderStatus.PLACED, "customer-1", Decimal("20.00"), 1
    )


def test_add_line_stores_the_new_line(orders_app, order_id):
    orders_app.add_line(order_id, "SKU-2", 1, "5.00")
    assert [ln.sku for ln in orders_app.get_order(order_id).lines] == ["SKU-1", "SKU-2"]


def test_remove_line_stores_the_removal(orders_app, order_id):
    orders_app.add_line(order_id, "SKU-2", 1, "5.00")
    orders_app.remove_line(order_id, "SKU-1")
    assert [ln.sku for ln in orders_app.get_order(order_id).lines] == ["SKU-2"]


def test_change_quantity_stores_the_new_quantity(orders_app, order_id):
    orders_app.change_quantity(order_id, "SKU-1", 5)
    assert orders_app.get_order(order_id).total == Decimal("50.00")


def test_a_command_that_changes_nothing_stores_nothing(orders_app, order_id):
    orders_app.change_quantity(order_id, "SKU-1", 2)
    assert orders_app.get_order(order_id).version == 1


def test_set_shipping_address_stores_the_address(orders_app, order_id):
    orders_app.set_shipping_address(order_id, ADDRESS)
    assert dict(orders_app.get_order(order_id).shipping_address) == ADDRESS


def test_confirm_stores_the_confirmation(orders_app, confirmed_id):
    assert orders_app.get_order(confirmed_id).status is OrderStatus.CONFIRMED


def test_record_payment_stores_the_payment(orders_app, paid_id):
    view = orders_app.get_order(paid_id)
    assert (view.status, view.payment_reference, view.amount_paid) == (OrderStatus.PAID, "pay-1", Decimal("20.00"))


def test_recording_the_same_payment_twice_stores_it_once(orders_app, paid_id):
    orders_app.record_payment(paid_id, "pay-1", "20.00", "EUR")
    assert orders_app.get_order(paid_id).version == 4


def test_a_repeated_payment_reference_with_another_amount_raises_and_stores_nothing(orders_app, paid_id):
    with pytest.raises(PaymentReferenceConflictError, match="was recorded on order .* as 20.00 EUR"):
        orders_app.record_payment(paid_id, "pay-1", "999.00", "USD")
    view = orders_app.get_order(paid_id)
    assert (view.version, view.amount_paid) == (4, Decimal("20.00"))


def test_ship_stores_the_shipment(orders_app, shipped_id):
    view = orders_app.get_order(shipped_id)
    assert (view.status, view.carrier, view.tracking_number) == (OrderStatus.SHIPPED, "DHL", "TRK-1")


def test_mark_delivered_stores_the_delivery(orders_app, shipped_id):
    orders_app.mark_delivered(shipped_id)
    assert orders_app.get_order(shipped_id).status is OrderStatus.DELIVERED


def test_cancel_stores_the_cancellation_with_the_refund_due(orders_app, paid_id):
    orders_app.cancel(paid_id, "out of stock")
    view = orders_app.get_order(paid_id)
    assert (view.status, view.cancel_reason, view.refund_due) == (
        OrderStatus.CANCELLED, "out of stock", Decimal("20.00")
    )


def test_cancelling_twice_with_the_same_reason_stores_one_cancellation(orders_app, paid_id):
    orders_app.cancel(paid_id, "out of stock: SKU-1")
    orders_app.cancel(paid_id, "out of stock: SKU-1")
    assert [r.event_type for r in orders_app.order_history(paid_id)][-2:] == ["Order.Paid", "Order.Cancelled"]


def test_cancelling_a_cancelled_order_with_another_reason_raises_and_stores_nothing(orders_app, order_id):
    orders_app.cancel(order_id, "out of stock: SKU-1")
    with pytest.raises(InvalidTransitionError, match="can no longer be cancelled"):
        orders_app.cancel(order_id, "payment declined")
    view = orders_app.get_order(order_id)
    assert (view.version, view.cancel_reason) == (2, "out of stock: SKU-1")


def test_a_broken_rule_raises_and_stores_nothing(orders_app, confirmed_id):
    with pytest.raises(InvalidTransitionError, match="must be paid"):
        orders_app.ship(confirmed_id, "DHL", "TRK-1")
    assert orders_app.get_order(confirmed_id).version == 3


def test_a_missing_line_raises_line_not_found(orders_app, order_id):
    with pytest.raises(LineNotFoundError):
        orders_app.remove_line(order_id, "SKU-9")


def test_get_order_accepts_the_id_as_a_string(orders_app, order_id):
    assert orders_app.get_order(f" {order_id} ").order_id == order_id


def test_get_order_returns_a_view_that_cannot_be_assigned_to(orders_app, order_id):
    view = orders_app.get_order(order_id)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = OrderStatus.CANCELLED


def test_get_order_returns_lines_that_cannot_be_assigned_to(orders_app, order_id):
    line = orders_app.get_order(order_id).lines[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.quantity = 99


def test_order_history_returns_the_events_in_version_order(orders_app, shipped_id):
    orders_app.mark_delivered(shipped_id)
    history = orders_app.order_history(shipped_id)
    assert [(r.aggregate_version, r.event_type) for r in history] == [
        (1, "Order.Placed"),
        (2, "Order.ShippingAddressSet"),
        (3, "Order.Confirmed"),
        (4, "Order.Paid"),
        (5, "Order.Shipped"),
        (6, "Order.Delivered"),
    ]


def test_order_history_records_carry_the_order_id(orders_app, order_id):
    assert {r.aggregate_id for r in orders_app.order_history(order_id)} == {str(order_id)}


@pytest.mark.parametrize(
    "query", ["get_order", "order_history"],
)
def test_an_unknown_order_id_raises_order_not_found(orders_app, query):
    with pytest.raises(OrderNotFoundError, match="check the order id"):
        getattr(orders_app, query)(uuid4())


@pytest.mark.parametrize(
    "command, args",
    [("confirm", ()), ("cancel", ("why",)), ("add_line", ("SKU-1", 1, "1.00")), ("mark_delivered", ())],
)
def test_a_command_on_an_unknown_order_raises_order_not_found(orders_app, command, args):
    with pytest.raises(OrderNotFoundError, match="there is no order"):
        getattr(orders_app, command)(uuid4(), *args)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1234"])
@pytest.mark.parametrize("query", ["get_order", "order_history", "confirm"])
def test_a_malformed_order_id_raises_order_not_found(orders_app, bad_id, query):
    with pytest.raises(OrderNotFoundError, match="is not an order id; order ids are UUIDs"):
        getattr(orders_app, query)(bad_id)
