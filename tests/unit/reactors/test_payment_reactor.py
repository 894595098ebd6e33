"""The payment reactor: a confirmed order's payment is captured."""

from __future__ import annotations

from domain.order import Order
from domain.testing import placed
from reactors.builtin.payment import PaymentReactor
from reactors.contract import PaymentCapture
from reactors.testing import reacting


def test_confirming_an_order_asks_for_its_payment_to_be_captured():
    then = reacting(PaymentReactor).given(placed()).when(Order.Confirmed)
    then.then(PaymentCapture(order_id=then.event.aggregate_id))


def test_placing_an_order_captures_nothing_yet():
    reacting(PaymentReactor).given().when(placed()).then_nothing()
