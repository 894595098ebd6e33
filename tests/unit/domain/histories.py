"""Event histories for the aggregate tests: one order at each point of its life.

``placed()`` (from the test kit) is an EUR order of 2 x SKU-1 at 10.00, so
its total is 20.00.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.order import Order
from domain.testing import placed

ADDRESS = {
    "name": "Sam Doe",
    "street": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
TOTAL = Decimal("20.00")

ADDRESS_SET = (Order.ShippingAddressSet, {"address": ADDRESS})
CONFIRMED = Order.Confirmed
PAID = (Order.Paid, {"payment_reference": "pay-1", "amount": TOTAL})
SHIPPED = (Order.Shipped, {"carrier": "DHL", "tracking_number": "TRK-1"})
DELIVERED = Order.Delivered


def cancelled(refund_due: Decimal = Decimal("0.00")) -> tuple[type, dict[str, Any]]:
    return (Order.Cancelled, {"reason": "changed my mind", "refund_due": refund_due})


PLACED_ORDER: tuple[Any, ...] = (placed(),)
ADDRESSED_ORDER = (placed(), ADDRESS_SET)
CONFIRMED_ORDER = (placed(), ADDRESS_SET, CONFIRMED)
PAID_ORDER = (*CONFIRMED_ORDER, PAID)
SHIPPED_ORDER = (*PAID_ORDER, SHIPPED)
DELIVERED_ORDER = (*SHIPPED_ORDER, DELIVERED)
CANCELLED_ORDER = (placed(), cancelled())

HISTORIES = {
    "placed": PLACED_ORDER,
    "confirmed": CONFIRMED_ORDER,
    "paid": PAID_ORDER,
    "shipped": SHIPPED_ORDER,
    "delivered": DELIVERED_ORDER,
    "cancelled": CANCELLED_ORDER,
}


def histories_except(*statuses: str) -> list[Any]:
    """pytest params of every history whose status is not one of ``statuses``."""
    import pytest

    return [
        pytest.param(history, id=status)
        for status, history in HISTORIES.items()
        if status not in statuses
    ]
