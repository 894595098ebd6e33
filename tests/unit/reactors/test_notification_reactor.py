"""The notification reactor: the customer hears of placement, shipment and cancellation by email."""

from __future__ import annotations

from decimal import Decimal

from domain.order import Order
from domain.testing import placed
from reactors.builtin.notification import NotificationReactor, customer_address
from reactors.contract import Email
from reactors.testing import reacting

LINES = [{"sku": "BOOK-42", "quantity": 2, "unit_price": Decimal("19.90")}]
SHIPPED = (Order.Shipped, {"carrier": "DHL", "tracking_number": "TRK123"})


def test_placing_an_order_mails_the_customer_its_lines_and_total():
    [mail] = reacting(NotificationReactor).given().when(placed(customer_id="c-7", lines=LINES)).effects
    assert isinstance(mail, Email)
    assert mail.to == customer_address("c-7")
    assert "2 x BOOK-42 at 19.90 EUR" in mail.body and "Total: 39.80 EUR" in mail.body


def test_the_shipment_mail_names_the_carrier_and_tracking_number():
    [mail] = reacting(NotificationReactor).given(placed(lines=LINES)).when(SHIPPED).effects
    assert isinstance(mail, Email)
    assert mail.subject.startswith("Your order has shipped") and "DHL, tracking number TRK123" in mail.body


def test_the_shipment_mail_lists_the_lines_as_edited():
    added = (Order.LineAdded, {"sku": "PEN-1", "quantity": 3, "unit_price": Decimal("1.50")})
    changed = (Order.QuantityChanged, {"sku": "BOOK-42", "quantity": 1})
    [mail] = reacting(NotificationReactor).given(placed(lines=LINES), added, changed).when(SHIPPED).effects
    assert isinstance(mail, Email)
    assert "1 x BOOK-42" in mail.body and "3 x PEN-1" in mail.body and "Total: 24.40 EUR" in mail.body


def test_the_cancellation_mail_gives_the_reason_and_the_refund():
    cancelled = (Order.Cancelled, {"reason": "out of stock: BOOK-42", "refund_due": Decimal("39.80")})
    [mail] = reacting(NotificationReactor).given(placed(lines=LINES)).when(cancelled).effects
    assert isinstance(mail, Email)
    assert "cancelled: out of stock: BOOK-42" in mail.body and "refund 39.80 EUR" in mail.body


def test_confirming_an_order_sends_nothing():
    reacting(NotificationReactor).given(placed()).when(Order.Confirmed).then_nothing()


def test_an_order_placed_before_the_reactor_started_gets_no_mail():
    # No address to send to: the reactor never saw the order placed.
    reacting(NotificationReactor).given().when(SHIPPED).then_nothing()
