"""The lifecycle: placed -> confirmed -> paid -> shipped -> delivered, and nothing else."""

from __future__ import annotations

import pytest

from domain.errors import (
    EmptyOrderError,
    InvalidShipmentError,
    InvalidTransitionError,
    MissingShippingAddressError,
)
from domain.order import Order, OrderStatus
from domain.testing import given, placed
from tests.unit.domain.histories import (
    ADDRESS_SET,
    ADDRESSED_ORDER,
    CONFIRMED_ORDER,
    PAID_ORDER,
    PLACED_ORDER,
    SHIPPED_ORDER,
    histories_except,
)

# ---- confirm --------------------------------------------------------------


def test_confirming_an_addressed_order_records_confirmed():
    given(*ADDRESSED_ORDER).when(lambda order: order.confirm()).then(Order.Confirmed)


def test_a_confirmed_order_is_in_status_confirmed():
    assert given(*ADDRESSED_ORDER).when(lambda order: order.confirm()).state.status is OrderStatus.CONFIRMED


def test_cannot_confirm_an_order_without_a_shipping_address():
    given(*PLACED_ORDER).when(lambda order: order.confirm()).then_error(
        MissingShippingAddressError, match="set one before confirming"
    )


def test_cannot_confirm_an_order_whose_lines_were_all_removed():
    given(placed(), ADDRESS_SET, (Order.LineRemoved, {"sku": "SKU-1"})).when(
        lambda order: order.confirm()
    ).then_error(EmptyOrderError, match="add a line before confirming")


@pytest.mark.parametrize("history", histories_except("placed"))
def test_cannot_confirm_unless_placed(history):
    given(*history).when(lambda order: order.confirm()).then_error(
        InvalidTransitionError, match="it must be placed"
    )


# ---- ship -----------------------------------------------------------------


def test_shipping_a_paid_order_records_shipped():
    given(*PAID_ORDER).when(lambda order: order.ship(" DHL ", "TRK-1")).then(
        (Order.Shipped, {"carrier": "DHL", "tracking_number": "TRK-1"})
    )


def test_cannot_ship_an_unpaid_order():
    given(*CONFIRMED_ORDER).when(lambda order: order.ship("DHL", "TRK-1")).then_error(
        InvalidTransitionError, match="cannot ship it: .* is confirmed, it must be paid"
    )


@pytest.mark.parametrize("history", histories_except("paid"))
def test_cannot_ship_unless_paid(history):
    given(*history).when(lambda order: order.ship("DHL", "TRK-1")).then_error(
        InvalidTransitionError, match="it must be paid"
    )


@pytest.mark.parametrize(
    "carrier, tracking", [("", "TRK-1"), ("DHL", " "), ("x" * 65, "TRK-1"), ("DHL", "9" * 65)]
)
def test_cannot_ship_without_a_valid_carrier_and_tracking_number(carrier, tracking):
    given(*PAID_ORDER).when(lambda order: order.ship(carrier, tracking)).then_error(
        InvalidShipmentError, match="1-64 characters"
    )


# ---- mark_delivered -------------------------------------------------------


def test_delivering_a_shipped_order_records_delivered():
    given(*SHIPPED_ORDER).when(lambda order: order.mark_delivered()).then(Order.Delivered)


def test_a_delivered_order_is_in_status_delivered():
    order = given(*SHIPPED_ORDER).when(lambda order: order.mark_delivered()).state
    assert order.status is OrderStatus.DELIVERED


def test_cannot_deliver_an_order_that_was_not_shipped():
    given(*PAID_ORDER).when(lambda order: order.mark_delivered()).then_error(
        InvalidTransitionError, match="it must be shipped"
    )


@pytest.mark.parametrize("history", histories_except("shipped"))
def test_cannot_deliver_unless_shipped(history):
    given(*history).when(lambda order: order.mark_delivered()).then_error(InvalidTransitionError)


# ---- the whole way --------------------------------------------------------


def test_an_order_goes_from_placed_to_delivered():
    def lifecycle(order):
        order.set_shipping_address(dict(ADDRESS_SET[1]["address"]))
        order.confirm()
        order.record_payment("pay-1", order.total, order.currency)
        order.ship("DHL", "TRK-1")
        order.mark_delivered()

    given(*PLACED_ORDER).when(lifecycle).then(
        Order.ShippingAddressSet, Order.Confirmed, Order.Paid, Order.Shipped, Order.Delivered
    )
