"""``customer_orders``: per customer, how many orders, how many open, what they paid.

Tables (for readers):

- ``customer_orders``: one row per customer: ``order_count`` (orders placed),
  ``open_orders`` (neither delivered nor cancelled), ``last_order_at`` (the
  latest placement time, fixed-width UTC text, see ``projections.values``).
- ``customer_orders_value``: one row per (customer, currency) the customer has
  paid in: ``lifetime_value`` (sum of payments minus refunds due on
  cancellation) and ``paid_orders`` (orders paid and not cancelled since).
  A row whose value and count are back to zero is removed, so a customer
  paying in several currencies has exactly one row per currency still paid in.

Internal: ``customer_orders_orders``, one row per order (customer, currency,
open, paid), because only ``Order.Placed`` carries the customer; later events
find their customer through it. It is keyed by the order id, so the framework
prefetches it per batch.

Ordering and idempotency: events of one order arrive in version order and at
most once (the framework's guarantee). Events of different orders of one
customer may arrive in any order (they can sit on different partitions), so
every per-customer figure is order-independent: counts and sums, and
``last_order_at`` is a maximum. A rebuild therefore reaches exactly the
incremental state. An event for an order never seen placed is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)

from domain.order import Order
from domain.records import EventRecord
from projections.columns import Money
from projections.contract import Projection, Rows, handles
from projections.values import (
    TIMESTAMP_LENGTH,
    in_currency,
    moment,
    money,
    row_of_placed_order,
    timestamp,
)


class CustomerOrdersStateError(RuntimeError):
    """An event refers to an order or customer the projection does not hold."""


class CustomerOrders(Projection):
    """Per customer: orders placed, orders open, lifetime value paid, last order time."""

    name = "customer_orders"
    version = 1
    metadata = MetaData()
    customers = Table(
        "customer_orders",
        metadata,
        Column("customer_id", String(64), primary_key=True),
        Column("order_count", Integer, nullable=False),
        Column("open_orders", Integer, nullable=False),
        Column("last_order_at", String(TIMESTAMP_LENGTH), nullable=False),
    )
    lifetime_values = Table(
        "customer_orders_value",
        metadata,
        Column("customer_id", String(64), primary_key=True),
        Column("currency", String(3), primary_key=True),
        Column("lifetime_value", Money, nullable=False),
        Column("paid_orders", Integer, nullable=False),
    )
    orders = Table(
        "customer_orders_orders",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("customer_id", String(64), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("open", Boolean, nullable=False),
        Column("paid", Boolean, nullable=False),
    )

    @handles(Order.Placed)
    def placed(self, rows: Rows, event: EventRecord) -> None:
        customer_id = event.data["customer_id"]
        rows.put(
            self.orders,
            {
                "order_id": event.aggregate_id,
                "customer_id": customer_id,
                "currency": event.data["currency"],
                "open": True,
                "paid": False,
            },
        )
        placed_at = timestamp(event.occurred_at)
        customer = rows.get(self.customers, customer_id)
        if customer is None:
            customer = {"customer_id": customer_id, "order_count": 0, "open_orders": 0,
                        "last_order_at": placed_at}
        rows.put(
            self.customers,
            {
                **customer,
                "order_count": customer["order_count"] + 1,
                "open_orders": customer["open_orders"] + 1,
                "last_order_at": max(customer["last_order_at"], placed_at),
            },
        )

    @handles(Order.Paid)
    def paid(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        rows.put(self.orders, {**order, "paid": True})
        self._add_value(rows, order, money(event.data["amount"]), paid_orders=1)

    @handles(Order.Delivered)
    def delivered(self, rows: Rows, event: EventRecord) -> None:
        self._close(rows, self._order(rows, event))

    @handles(Order.Cancelled)
    def cancelled(self, rows: Rows, event: EventRecord) -> None:
        order = self._close(rows, self._order(rows, event))
        refund = money(event.data["refund_due"])
        if order["paid"]:
            rows.put(self.orders, {**order, "paid": False})
            self._add_value(rows, order, -refund, paid_orders=-1)
        elif refund:
            raise CustomerOrdersStateError(
                f"order {event.aggregate_id} was cancelled with a refund of {refund} "
                "but customer_orders never saw it paid"
            )

    def _close(self, rows: Rows, order: dict[str, Any]) -> dict[str, Any]:
        if not order["open"]:
            return order
        order = {**order, "open": False}
        rows.put(self.orders, order)
        customer = rows.get(self.customers, order["customer_id"])
        if customer is None:
            raise CustomerOrdersStateError(f"customer {order['customer_id']} has no row")
        rows.put(self.customers, {**customer, "open_orders": customer["open_orders"] - 1})
        return order

    def _add_value(self, rows: Rows, order: dict[str, Any], amount: Decimal, paid_orders: int) -> None:
        key = (order["customer_id"], order["currency"])
        value = rows.get(self.lifetime_values, *key) or {
            "customer_id": key[0], "currency": key[1],
            "lifetime_value": Decimal(0), "paid_orders": 0,
        }
        value = {
            **value,
            "lifetime_value": value["lifetime_value"] + amount,
            "paid_orders": value["paid_orders"] + paid_orders,
        }
        if value["paid_orders"] == 0 and value["lifetime_value"] == 0:
            rows.delete(self.lifetime_values, *key)
        else:
            rows.put(self.lifetime_values, value)

    def _order(self, rows: Rows, event: EventRecord) -> dict[str, Any]:
        return row_of_placed_order(rows, self.orders, event, CustomerOrdersStateError, self.name)


# ---- queries ------------------------------------------------------------


@dataclass(frozen=True)
class CustomerOrdersRow:
    customer_id: str
    order_count: int
    open_orders: int
    last_order_at: datetime
    # Lifetime value paid, per currency (net of refunds); empty if nothing paid.
    lifetime_value: dict[str, Decimal]
    paid_orders: int


def get_customer_orders(conn: Connection, customer_id: str) -> CustomerOrdersRow | None:
    """One customer's figures, or None when the customer has placed no order."""
    table = CustomerOrders.customers
    row = conn.execute(select(table).where(table.c.customer_id == customer_id)).mappings().first()
    if row is None:
        return None
    return _customers(conn, [row])[0]


def top_customers(
    conn: Connection,
    limit: int = 10,
    by: Literal["orders", "value"] = "orders",
    currency: str | None = None,
) -> list[CustomerOrdersRow]:
    """The ``limit`` best customers by number of orders, or by lifetime value in ``currency``.

    Amounts in different currencies are not comparable, so ranking by value
    needs a currency. Ties are broken by customer id.
    """
    customers, values = CustomerOrders.customers, CustomerOrders.lifetime_values
    if by == "orders":
        query = (
            select(customers)
            .order_by(customers.c.order_count.desc(), customers.c.customer_id)
            .limit(limit)
        )
    elif by == "value":
        if currency is None:
            raise ValueError("ranking customers by value needs a currency")
        query = (
            select(customers)
            .join(values, values.c.customer_id == customers.c.customer_id)
            .where(values.c.currency == currency)
            .order_by(values.c.lifetime_value.desc(), customers.c.customer_id)
            .limit(limit)
        )
    else:
        raise ValueError(f"rank customers by 'orders' or 'value', not {by!r}")
    return _customers(conn, list(conn.execute(query).mappings()))


def lifetime_value_by_currency(conn: Connection) -> dict[str, Decimal]:
    """Every customer's lifetime value summed per currency (the revenue that stands)."""
    values = CustomerOrders.lifetime_values
    query = (
        select(values.c.currency, func.sum(values.c.lifetime_value))
        .group_by(values.c.currency)
        .order_by(values.c.currency)
    )
    return {currency: in_currency(amount, currency) for currency, amount in conn.execute(query)}


def _customers(conn: Connection, rows: list[Any]) -> list[CustomerOrdersRow]:
    values = CustomerOrders.lifetime_values
    ids = [row["customer_id"] for row in rows]
    by_customer: dict[str, list[Any]] = {customer_id: [] for customer_id in ids}
    if ids:
        query = select(values).where(values.c.customer_id.in_(ids)).order_by(values.c.currency)
        for value in conn.execute(query).mappings():
            by_customer[value["customer_id"]].append(value)
    return [
        CustomerOrdersRow(
            customer_id=row["customer_id"],
            order_count=row["order_count"],
            open_orders=row["open_orders"],
            last_order_at=moment(row["last_order_at"]),
            lifetime_value={
                v["currency"]: in_currency(v["lifetime_value"], v["currency"])
                for v in by_customer[row["customer_id"]]
            },
            paid_orders=sum(v["paid_orders"] for v in by_customer[row["customer_id"]]),
        )
        for row in rows
    ]
