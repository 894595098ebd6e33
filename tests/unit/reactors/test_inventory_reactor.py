"""The inventory reactor: an open order's lines hold stock; cancelling frees it, shipping takes it."""

from __future__ import annotations

from decimal import Decimal

from domain.order import Order
from domain.testing import placed
from reactors.builtin.inventory import InventoryReactor
from reactors.contract import Command
from reactors.testing import reacting

TWO_LINES = [
    {"sku": "BOOK-42", "quantity": 2, "unit_price": Decimal("19.90")},
    {"sku": "ALBUM-7", "quantity": 1, "unit_price": Decimal("9.99")},
]
CANCELLED = (Order.Cancelled, {"reason": "changed my mind", "refund_due": Decimal(0)})
SHIPPED = (Order.Shipped, {"carrier": "DHL", "tracking_number": "T1"})


def test_placing_an_order_reserves_every_line_in_one_request():
    then = reacting(InventoryReactor).given().when(placed(lines=TWO_LINES))
    [effect] = then.effects
    assert effect == Command(
        target="inventory", action="reserve",
        args={"order_id": then.event.aggregate_id, "lines": [["ALBUM-7", 1], ["BOOK-42", 2]]},
    )


def test_a_line_added_is_reserved():
    added = (Order.LineAdded, {"sku": "PEN-1", "quantity": 3, "unit_price": Decimal("1.50")})
    then = reacting(InventoryReactor).given(placed()).when(added)
    then.then((Command, {"action": "reserve", "args": {"order_id": then.event.aggregate_id, "lines": [["PEN-1", 3]]}}))


def test_a_line_removed_is_released():
    then = reacting(InventoryReactor).given(placed(lines=TWO_LINES)).when((Order.LineRemoved, {"sku": "BOOK-42"}))
    then.then((Command, {"action": "release", "args": {"order_id": then.event.aggregate_id, "skus": ["BOOK-42"]}}))


def test_a_changed_quantity_is_released_then_reserved_again():
    then = reacting(InventoryReactor).given(placed()).when((Order.QuantityChanged, {"sku": "SKU-1", "quantity": 5}))
    then.then((Command, {"action": "release"}), (Command, {"action": "reserve", "args": {
        "order_id": then.event.aggregate_id, "lines": [["SKU-1", 5]]}}))


def test_cancelling_releases_every_sku_the_order_holds():
    then = reacting(InventoryReactor).given(placed(lines=TWO_LINES)).when(CANCELLED)
    then.then((Command, {"action": "release", "args": {
        "order_id": then.event.aggregate_id, "skus": ["ALBUM-7", "BOOK-42"]}}))


def test_shipping_turns_every_reservation_into_a_shipment():
    then = reacting(InventoryReactor).given(placed(lines=TWO_LINES), (Order.Confirmed, {}),
                                             (Order.Paid, {"payment_reference": "p", "amount": Decimal("49.79")})
                                             ).when(SHIPPED)
    then.then((Command, {"action": "ship", "args": {"order_id": then.event.aggregate_id,
                                                      "skus": ["ALBUM-7", "BOOK-42"]}}))


def test_an_order_placed_before_the_reactor_started_asks_nothing_when_cancelled():
    # The reactor starts mid-stream: it never saw this order placed.
    then = reacting(InventoryReactor).given().when(CANCELLED)
    then.then_nothing()


def test_an_order_that_was_shipped_is_forgotten():
    then = reacting(InventoryReactor).given(placed()).when(SHIPPED)
    assert then.rows.all(InventoryReactor.orders) == []
