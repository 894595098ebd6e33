"""Cancelling: allowed until shipment; a paid order owes a refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidTransitionError
from domain.order import Order, OrderStatus
from domain.testing import given, placed
from tests.unit.domain.histories import (
    ADDRESS_SET,
    CANCELLED_ORDER,
    CONFIRMED,
    CONFIRMED_ORDER,
    DELIVERED_ORDER,
    PAID_ORDER,
    PLACED_ORDER,
    SHIPPED_ORDER,
    TOTAL,
    cancelled,
)


def cancelled_because(reason):
    return (Order.Cancelled, {"reason": reason, "refund_due": Decimal("0.00")})


def cancel(reason="changed my mind"):
    return lambda order: order.cancel(reason)


@pytest.mark.parametrize(
    "history", [PLACED_ORDER, CONFIRMED_ORDER, PAID_ORDER], ids=["placed", "confirmed", "paid"]
)
def test_an_order_can_be_cancelled_until_it_ships(history):
    given(*history).when(cancel()).then((Order.Cancelled, {"reason": "changed my mind"}))


def test_a_cancelled_order_is_in_status_cancelled():
    assert given(*PLACED_ORDER).when(cancel()).state.status is OrderStatus.CANCELLED


def test_cancelling_an_unpaid_order_records_no_refund():
    given(*CONFIRMED_ORDER).when(cancel()).then((Order.Cancelled, {"refund_due": Decimal("0.00")}))


def test_cancelling_a_paid_order_records_the_amount_paid_as_refund_due():
    given(*PAID_ORDER).when(cancel()).then((Order.Cancelled, {"refund_due": TOTAL}))


def test_the_refund_due_is_in_the_currency_minor_unit():
    jpy = placed(currency="JPY", lines=[{"sku": "SKU-1", "quantity": 3, "unit_price": Decimal("1500")}])
    paid = (Order.Paid, {"payment_reference": "pay-1", "amount": Decimal("4500")})
    then = given(jpy, ADDRESS_SET, CONFIRMED, paid).when(cancel()).then(Order.Cancelled)
    assert str(then.events[0].refund_due) == "4500"


def test_cancelling_without_a_reason_records_no_reason_given():
    given(*PLACED_ORDER).when(cancel("  ")).then((Order.Cancelled, {"reason": "no reason given"}))


def test_a_long_cancel_reason_is_cut_to_200_characters():
    given(*PLACED_ORDER).when(cancel("x" * 500)).then((Order.Cancelled, {"reason": "x" * 200}))


@pytest.mark.parametrize("history", [SHIPPED_ORDER, DELIVERED_ORDER], ids=["shipped", "delivered"])
def test_cannot_cancel_a_shipped_or_delivered_order(history):
    given(*history).when(cancel()).then_error(
        InvalidTransitionError, match="only placed, confirmed or paid orders can"
    )


def test_cancelling_a_cancelled_order_again_with_the_same_reason_records_nothing():
    given(*CANCELLED_ORDER).when(cancel("changed my mind")).then_nothing()


def test_cancelling_again_compares_the_reason_as_it_was_recorded():
    given(placed(), cancelled_because("no reason given")).when(cancel("  ")).then_nothing()


def test_cancelling_again_with_a_long_reason_compares_its_first_200_characters():
    given(placed(), cancelled_because("x" * 200)).when(cancel("x" * 500)).then_nothing()


def test_cannot_cancel_a_cancelled_order_again_with_another_reason():
    given(*CANCELLED_ORDER).when(cancel("out of stock: SKU-1")).then_error(
        InvalidTransitionError, match=r"is cancelled \(with reason 'changed my mind'\) and can no longer be cancelled"
    )


def test_a_paid_order_cancelled_again_with_the_same_reason_records_no_second_refund():
    given(*PAID_ORDER, cancelled(TOTAL)).when(cancel()).then_nothing()
