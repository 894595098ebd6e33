"""``product_sales``: per SKU, units ordered, paid and cancelled, and revenue.

Definitions (per SKU, over all orders):

- ``units_ordered``: units of the SKU on orders that are not cancelled, in
  their current form: as placed, plus lines added, minus lines removed,
  adjusted by quantity changes. Orders that went on to be paid, shipped or
  delivered still count. (Units ordered + units cancelled = the units of every
  order in its final form.)
- ``units_paid``: units on orders that were paid (their lines at payment) and
  not cancelled since; a paid order that is cancelled is refunded and leaves.
- ``revenue`` (per currency, table ``product_sales_revenue``): quantity x
  unit price of those same paid lines. Summed over SKUs it equals the
  payments that stand, per currency (``Order.Paid`` amounts minus refunds).
  Amounts in different currencies are never added together.
- ``units_cancelled``: units that were on orders when they were cancelled
  (whether or not they had been paid).

A row whose figures are all back to zero is removed.

Internal: ``product_sales_orders``, one row per order with its currency, its
current lines as JSON text (``{sku: [quantity, "unit price"]}``) and whether it is
paid or cancelled, since ``LineRemoved``, ``QuantityChanged``, ``Paid`` and
``Cancelled`` do not carry the lines they affect. It is keyed by the order id,
so the framework prefetches it per batch.

Ordering and idempotency: events of one order arrive in version order and at
most once (the framework's guarantee); orders touching the same SKU may
arrive in any order, so every per-SKU figure is a sum, and a rebuild reaches
exactly the incremental state. An event for an order never seen placed, or
naming a SKU not on the order, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    Text,
    func,
    select,
)

from domain.order import Order
from domain.records import EventRecord
from projections.columns import Money
from projections.contract import Projection, Rows, handles
from projections.values import (
    dump_json,
    in_currency,
    load_json,
    money,
    pop_line,
    row_of_placed_order,
)

UNIT_COLUMNS = ("units_ordered", "units_paid", "units_cancelled")


class ProductSalesStateError(RuntimeError):
    """An event refers to an order or line the projection does not hold."""


class ProductSales(Projection):
    """Per SKU: units ordered, paid and cancelled; revenue per currency."""

    name = "product_sales"
    version = 1
    metadata = MetaData()
    products = Table(
        "product_sales",
        metadata,
        Column("sku", String(32), primary_key=True),
        Column("units_ordered", Integer, nullable=False),
        Column("units_paid", Integer, nullable=False),
        Column("units_cancelled", Integer, nullable=False),
    )
    revenue = Table(
        "product_sales_revenue",
        metadata,
        Column("sku", String(32), primary_key=True),
        Column("currency", String(3), primary_key=True),
        Column("revenue", Money, nullable=False),
        Column("units_paid", Integer, nullable=False),
    )
    orders = Table(
        "product_sales_orders",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("currency", String(3), nullable=False),
        Column("lines", Text, nullable=False),
        Column("paid", Boolean, nullable=False),
        Column("cancelled", Boolean, nullable=False),
    )

    @handles(Order.Placed)
    def placed(self, rows: Rows, event: EventRecord) -> None:
        lines = {ln["sku"]: [int(ln["quantity"]), ln["unit_price"]] for ln in event.data["lines"]}
        rows.put(
            self.orders,
            {"order_id": event.aggregate_id, "currency": event.data["currency"],
             "lines": dump_json(lines), "paid": False, "cancelled": False},
        )
        for sku, (quantity, _) in lines.items():
            self._add_units(rows, sku, units_ordered=quantity)

    @handles(Order.LineAdded)
    def line_added(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        sku, quantity = event.data["sku"], int(event.data["quantity"])
        lines = load_json(order["lines"])
        lines[sku] = [quantity, event.data["unit_price"]]
        rows.put(self.orders, {**order, "lines": dump_json(lines)})
        self._add_units(rows, sku, units_ordered=quantity)

    @handles(Order.LineRemoved)
    def line_removed(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        lines = load_json(order["lines"])
        quantity, _ = pop_line(lines, event, ProductSalesStateError)
        rows.put(self.orders, {**order, "lines": dump_json(lines)})
        self._add_units(rows, event.data["sku"], units_ordered=-quantity)

    @handles(Order.QuantityChanged)
    def quantity_changed(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        lines = load_json(order["lines"])
        old, unit_price = pop_line(lines, event, ProductSalesStateError)
        sku, new = event.data["sku"], int(event.data["quantity"])
        lines[sku] = [new, unit_price]
        rows.put(self.orders, {**order, "lines": dump_json(lines)})
        self._add_units(rows, sku, units_ordered=new - old)

    @handles(Order.Paid)
    def paid(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        rows.put(self.orders, {**order, "paid": True})
        for sku, (quantity, unit_price) in load_json(order["lines"]).items():
            self._add_units(rows, sku, units_paid=quantity)
            self._add_revenue(rows, sku, order["currency"], money(unit_price) * quantity, quantity)

    @handles(Order.Cancelled)
    def cancelled(self, rows: Rows, event: EventRecord) -> None:
        order = self._order(rows, event)
        rows.put(self.orders, {**order, "paid": False, "cancelled": True})
        for sku, (quantity, unit_price) in load_json(order["lines"]).items():
            if order["paid"]:
                self._add_units(rows, sku, units_ordered=-quantity, units_paid=-quantity,
                                units_cancelled=quantity)
                self._add_revenue(rows, sku, order["currency"], -money(unit_price) * quantity, -quantity)
            else:
                self._add_units(rows, sku, units_ordered=-quantity, units_cancelled=quantity)

    def _add_units(self, rows: Rows, sku: str, **deltas: int) -> None:
        row = rows.get(self.products, sku) or {
            "sku": sku, "units_ordered": 0, "units_paid": 0, "units_cancelled": 0,
        }
        row = {**row, **{column: row[column] + delta for column, delta in deltas.items()}}
        if any(row[column] for column in UNIT_COLUMNS):
            rows.put(self.products, row)
        else:
            rows.delete(self.products, sku)

    def _add_revenue(self, rows: Rows, sku: str, currency: str, amount: Decimal, units: int) -> None:
        row = rows.get(self.revenue, sku, currency) or {
            "sku": sku, "currency": currency, "revenue": Decimal(0), "units_paid": 0,
        }
        row = {**row, "revenue": row["revenue"] + amount, "units_paid": row["units_paid"] + units}
        if row["revenue"] or row["units_paid"]:
            rows.put(self.revenue, row)
        else:
            rows.delete(self.revenue, sku, currency)

    def _order(self, rows: Rows, event: EventRecord) -> dict[str, Any]:
        return row_of_placed_order(rows, self.orders, event, ProductSalesStateError, self.name)


# ---- queries ------------------------------------------------------------


@dataclass(frozen=True)
class ProductSalesRow:
    sku: str
    units_ordered: int
    units_paid: int
    units_cancelled: int
    # Revenue that stands, per currency; empty if no paid order holds the SKU.
    revenue: dict[str, Decimal]


def get_product_sales(conn: Connection, sku: str) -> ProductSalesRow | None:
    """One SKU's figures, or None when no order holds or held it."""
    products = ProductSales.products
    row = conn.execute(select(products).where(products.c.sku == sku)).mappings().first()
    return None if row is None else _products(conn, [row])[0]


def top_products(
    conn: Connection,
    limit: int = 10,
    by: Literal["revenue", "units"] = "revenue",
    currency: str | None = None,
) -> list[ProductSalesRow]:
    """The ``limit`` best-selling SKUs, by units paid or by revenue in ``currency``.

    Amounts in different currencies are not comparable, so ranking by revenue
    needs a currency (see ``sales_currencies``). Ties are broken by SKU.
    """
    products, revenue = ProductSales.products, ProductSales.revenue
    if by == "units":
        query = (
            select(products)
            .order_by(products.c.units_paid.desc(), products.c.sku)
            .limit(limit)
        )
    elif by == "revenue":
        if currency is None:
            raise ValueError("ranking products by revenue needs a currency")
        query = (
            select(products)
            .join(revenue, revenue.c.sku == products.c.sku)
            .where(revenue.c.currency == currency)
            .order_by(revenue.c.revenue.desc(), products.c.sku)
            .limit(limit)
        )
    else:
        raise ValueError(f"rank products by 'revenue' or 'units', not {by!r}")
    return _products(conn, list(conn.execute(query).mappings()))


def sales_currencies(conn: Connection) -> list[str]:
    """The currencies in which some product has revenue, sorted."""
    revenue = ProductSales.revenue
    query = select(revenue.c.currency).distinct().order_by(revenue.c.currency)
    return list(conn.execute(query).scalars())


def revenue_by_currency(conn: Connection) -> dict[str, Decimal]:
    """Revenue of all products summed per currency."""
    revenue = ProductSales.revenue
    query = (
        select(revenue.c.currency, func.sum(revenue.c.revenue))
        .group_by(revenue.c.currency)
        .order_by(revenue.c.currency)
    )
    return {currency: in_currency(amount, currency) for currency, amount in conn.execute(query)}


def _products(conn: Connection, rows: list[Any]) -> list[ProductSalesRow]:
    revenue = ProductSales.revenue
    skus = [row["sku"] for row in rows]
    by_sku: dict[str, dict[str, Decimal]] = {sku: {} for sku in skus}
    if skus:
        query = select(revenue).where(revenue.c.sku.in_(skus)).order_by(revenue.c.currency)
        for value in conn.execute(query).mappings():
            by_sku[value["sku"]][value["currency"]] = in_currency(value["revenue"], value["currency"])
    return [
        ProductSalesRow(
            sku=row["sku"],
            units_ordered=row["units_ordered"],
            units_paid=row["units_paid"],
            units_cancelled=row["units_cancelled"],
            revenue=by_sku[row["sku"]],
        )
        for row in rows
    ]
