"""What the demo expects of the reactors, worked out from the orders alone (no store)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.cli.demo_reactors import StockFromOrders, order_outcomes, stock_from_orders
from domain.order import Order
from domain.testing import given
from domain.views import OrderView
from tests.unit.domain.histories import CONFIRMED_ORDER, DELIVERED_ORDER, PAID, PAID_ORDER, PLACED_ORDER, SHIPPED_ORDER


def view(*history: Any) -> OrderView:
    return OrderView.of(given(*history).replay())


def cancelled(reason: str, refund_due: str = "0.00") -> tuple[type, dict[str, Any]]:
    return (Order.Cancelled, {"reason": reason, "refund_due": Decimal(refund_due)})


def test_shipped_and_delivered_orders_lines_are_shipped_open_orders_lines_reserved():
    views = [view(*PLACED_ORDER), view(*PAID_ORDER), view(*SHIPPED_ORDER), view(*DELIVERED_ORDER)]
    assert stock_from_orders(views, {"SKU-1": 20}) == [StockFromOrders("SKU-1", 20, shipped=4, reserved=4, short=0)]


def test_a_cancelled_orders_lines_are_neither_shipped_nor_reserved():
    (stock,) = stock_from_orders([view(*PLACED_ORDER, cancelled("changed my mind"))], {"SKU-1": 5})
    assert (stock.shipped, stock.reserved, stock.on_hand, stock.available) == (0, 0, 5, 5)


def test_on_hand_is_restocked_less_shipped_and_available_is_on_hand_less_reserved():
    (stock,) = stock_from_orders([view(*SHIPPED_ORDER), view(*CONFIRMED_ORDER)], {"SKU-1": 10})
    assert (stock.on_hand, stock.available) == (8, 6)


def test_an_order_cancelled_out_of_stock_counts_against_the_short_sku():
    views = [view(*PLACED_ORDER, cancelled("out of stock: SKU-2"))]
    assert [s.short for s in stock_from_orders(views, {"SKU-1": 5, "SKU-2": 0})] == [0, 1]


def test_outcomes_count_cancellations_by_reactor_reason_and_payments_taken():
    views = [
        view(*PLACED_ORDER, cancelled("out of stock: SKU-1")),
        view(*CONFIRMED_ORDER, cancelled("payment declined: card declined")),
        view(*PAID_ORDER, cancelled("out of stock: SKU-1", refund_due="20.00")),
        view(*CONFIRMED_ORDER, PAID),
        view(*SHIPPED_ORDER),
    ]
    did = order_outcomes(views)
    assert did.out_of_stock == ["out of stock: SKU-1", "out of stock: SKU-1"]
    assert did.declined == ["payment declined: card declined"]
    assert (did.paid, did.refunded) == (3, 1)


def test_one_mail_is_expected_per_order_placed_shipped_and_cancelled():
    views = [view(*PLACED_ORDER), view(*DELIVERED_ORDER), view(*PLACED_ORDER, cancelled("changed my mind"))]
    assert order_outcomes(views).mails == 3 + 1 + 1
