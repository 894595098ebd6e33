"""The notification reactor: the customer hears of an order's placement, shipment and cancellation by email.

State: each open order's customer, currency and lines (from ``Order.Placed``
and the line edits), so that a shipment's or cancellation's email can list
them. An order placed before the reactor started is not known: no email is
sent about it (there is no address to send to).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text

from domain.order import Order
from domain.records import EventRecord
from projections.contract import Rows
from projections.values import dump_json, load_json
from reactors.contract import Effect, Email, Reactor, reacts_to

CUSTOMER_MAIL_DOMAIN = "customers.example"


def customer_address(customer_id: str) -> str:
    """Where a customer's mail goes: the shop has no address book, so one derived from the customer id."""
    return f"{customer_id}@{CUSTOMER_MAIL_DOMAIN}"


class NotificationReactor(Reactor):
    name = "notification"
    version = 1
    metadata = MetaData()
    orders = Table(
        "notification_orders",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("customer_id", String(64), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("lines", Text, nullable=False),  # JSON: sku -> [quantity, unit price]
    )

    @reacts_to(Order.Placed)
    def placed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        data = event.data
        lines = {str(x["sku"]): [int(x["quantity"]), str(x["unit_price"])] for x in data["lines"]}
        order = {
            "order_id": event.aggregate_id,
            "customer_id": str(data["customer_id"]),
            "currency": str(data["currency"]),
            "lines": dump_json(lines),
        }
        rows.put(self.orders, order)
        opening = "Thank you for your order. We will tell you when it ships."
        return [self._mail(order, lines, "We have your order", opening)]

    @reacts_to(Order.LineAdded)
    def line_added(self, rows: Rows, event: EventRecord) -> None:
        line = [int(event.data["quantity"]), str(event.data["unit_price"])]
        self._edit(rows, event, lambda lines: lines | {event.data["sku"]: line})

    @reacts_to(Order.LineRemoved)
    def line_removed(self, rows: Rows, event: EventRecord) -> None:
        self._edit(rows, event, lambda lines: {s: v for s, v in lines.items() if s != event.data["sku"]})

    @reacts_to(Order.QuantityChanged)
    def quantity_changed(self, rows: Rows, event: EventRecord) -> None:
        sku, quantity = event.data["sku"], int(event.data["quantity"])
        self._edit(rows, event, lambda lines: lines | {sku: [quantity, lines[sku][1]]} if sku in lines else lines)

    @reacts_to(Order.Shipped)
    def shipped(self, rows: Rows, event: EventRecord) -> list[Effect]:
        order = rows.get(self.orders, event.aggregate_id)
        if order is None:
            return []
        rows.delete(self.orders, event.aggregate_id)
        return [
            self._mail(
                order,
                load_json(order["lines"]),
                "Your order has shipped",
                f"Your order is on its way with {event.data['carrier']}, "
                f"tracking number {event.data['tracking_number']}.",
            )
        ]

    @reacts_to(Order.Cancelled)
    def cancelled(self, rows: Rows, event: EventRecord) -> list[Effect]:
        order = rows.get(self.orders, event.aggregate_id)
        if order is None:
            return []
        rows.delete(self.orders, event.aggregate_id)
        refund = Decimal(str(event.data.get("refund_due") or "0"))
        text = f"Your order was cancelled: {event.data['reason']}."
        if refund:
            text += f" We will refund {refund} {order['currency']}."
        return [self._mail(order, load_json(order["lines"]), "Your order was cancelled", text)]

    def _edit(self, rows: Rows, event: EventRecord, change: Any) -> None:
        order = rows.get(self.orders, event.aggregate_id)
        if order is not None:
            rows.put(self.orders, {**order, "lines": dump_json(change(load_json(order["lines"])))})

    def _mail(self, order: dict[str, Any], lines: dict[str, list[Any]], subject: str, opening: str) -> Email:
        currency = order["currency"]
        listed = [f"  {quantity} x {sku} at {price} {currency}" for sku, (quantity, price) in sorted(lines.items())]
        total = sum((Decimal(price) * quantity for quantity, price in lines.values()), Decimal(0))
        body = "\n".join(
            [
                "Hello,",
                "",
                opening,
                "",
                f"Order {order['order_id']}:",
                *listed,
                f"Total: {total} {currency}",
                "",
                "orderstream",
            ]
        )
        subject = f"{subject} ({order['order_id'][:8]})"
        return Email(to=customer_address(order["customer_id"]), subject=subject, body=body)
