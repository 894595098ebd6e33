"""``order_summary``: one row per order, for order pages and operational counts.

Each row holds the order's customer, channel, currency, status, line count,
total, the amount paid and refund due, and the time of each lifecycle step
(the ``occurred_at`` of the event that took it, as fixed-width UTC text, see
``projections.values``). The order's current lines are kept on the row as
JSON text (``{"SKU-1": [2, "9.99"]}``: quantity and unit price per SKU) so
that ``LineAdded``/``LineRemoved``/``QuantityChanged`` keep ``total`` and
``line_count`` exact with a single read and write of the order's own row:
the table is keyed by the order id, so the framework prefetches a whole
batch's rows in one query, and lifecycle events never parse the lines.

Ordering and idempotency: every row depends on one order's events only, which
arrive in aggregate-version order (one Kafka partition per order; the
framework drops duplicates and reports gaps), so a rebuild reaches exactly the
incremental state. An event for an order this projection has never seen
placed is an error, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)

from domain.order import Order, OrderStatus
from domain.records import EventRecord
from domain.views import LineView
from projections.columns import Money
from projections.contract import Projection, Rows, handles
from projections.values import (
    TIMESTAMP_LENGTH,
    dump_json,
    in_currency,
    load_json,
    moment,
    money,
    pop_line,
    row_of_placed_order,
    timestamp,
)

# Lifecycle steps whose time the summary records: status -> column.
STEP_COLUMNS = {
    OrderStatus.PLACED.value: "placed_at",
    OrderStatus.CONFIRMED.value: "confirmed_at",
    OrderStatus.PAID.value: "paid_at",
    OrderStatus.SHIPPED.value: "shipped_at",
    OrderStatus.DELIVERED.value: "delivered_at",
    OrderStatus.CANCELLED.value: "cancelled_at",
}
STATUSES = tuple(STEP_COLUMNS)
_PLACED, _CONFIRMED, _PAID, _SHIPPED, _DELIVERED, _CANCELLED = STATUSES
# Statuses whose payment stands (a cancelled paid order is refunded).
REVENUE_STATUSES = (OrderStatus.PAID.value, OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value)


class OrderSummaryStateError(RuntimeError):
    """An event refers to an order or line the summary does not hold."""


class OrderSummary(Projection):
    """One row per order: who, what, how much, and when each step happened."""

    name = "order_summary"
    version = 1
    metadata = MetaData()
    orders = Table(
        "order_summary",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("customer_id", String(64), nullable=False),
        Column("channel", String(16), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("status", String(16), nullable=False),
        Column("line_count", Integer, nullable=False),
        Column("total", Money, nullable=False),
        Column("amount_paid", Money, nullable=True),
        Column("refund_due", Money, nullable=True),
        Column("placed_at", String(TIMESTAMP_LENGTH), nullable=False),
        Column("confirmed_at", String(TIMESTAMP_LENGTH), nullable=True),
        Column("paid_at", String(TIMESTAMP_LENGTH), nullable=True),
        Column("shipped_at", String(TIMESTAMP_LENGTH), nullable=True),
        Column("delivered_at", String(TIMESTAMP_LENGTH), nullable=True),
        Column("cancelled_at", String(TIMESTAMP_LENGTH), nullable=True),
        Column("lines", Text, nullable=False),
        Index("ix_order_summary_placed_at", "placed_at"),
    )

    @handles(Order.Placed)
    def placed(self, rows: Rows, event: EventRecord) -> None:
        data = event.data
        lines = {ln["sku"]: [int(ln["quantity"]), ln["unit_price"]] for ln in data["lines"]}
        rows.put(
            self.orders,
            {
                "order_id": event.aggregate_id,
                "customer_id": data["customer_id"],
                "channel": data["channel"],
                "currency": data["currency"],
                "status": _PLACED,
                "line_count": len(lines),
                "total": sum((_subtotal(ln) for ln in lines.values()), start=Decimal(0)),
                "amount_paid": None,
                "refund_due": None,
                "placed_at": timestamp(event.occurred_at),
                "confirmed_at": None,
                "paid_at": None,
                "shipped_at": None,
                "delivered_at": None,
                "cancelled_at": None,
                "lines": dump_json(lines),
            },
        )

    @handles(Order.LineAdded)
    def line_added(self, rows: Rows, event: EventRecord) -> None:
        row = self._row(rows, event)
        lines = load_json(row["lines"])
        line = lines[event.data["sku"]] = [int(event.data["quantity"]), event.data["unit_price"]]
        self._put_lines(rows, row, lines, row["total"] + _subtotal(line))

    @handles(Order.LineRemoved)
    def line_removed(self, rows: Rows, event: EventRecord) -> None:
        row = self._row(rows, event)
        lines = load_json(row["lines"])
        line = pop_line(lines, event, OrderSummaryStateError)
        self._put_lines(rows, row, lines, row["total"] - _subtotal(line))

    @handles(Order.QuantityChanged)
    def quantity_changed(self, rows: Rows, event: EventRecord) -> None:
        row = self._row(rows, event)
        lines = load_json(row["lines"])
        old = pop_line(lines, event, OrderSummaryStateError)
        new = lines[event.data["sku"]] = [int(event.data["quantity"]), old[1]]
        self._put_lines(rows, row, lines, row["total"] - _subtotal(old) + _subtotal(new))

    def _put_lines(self, rows: Rows, row: dict[str, Any], lines: dict[str, list[Any]], total: Decimal) -> None:
        row["lines"] = dump_json(lines)
        row["line_count"] = len(lines)
        row["total"] = total
        rows.put(self.orders, row)

    @handles(Order.Confirmed)
    def confirmed(self, rows: Rows, event: EventRecord) -> None:
        self._step(rows, event, _CONFIRMED)

    @handles(Order.Paid)
    def paid(self, rows: Rows, event: EventRecord) -> None:
        self._step(rows, event, _PAID, "amount_paid", money(event.data["amount"]))

    @handles(Order.Shipped)
    def shipped(self, rows: Rows, event: EventRecord) -> None:
        self._step(rows, event, _SHIPPED)

    @handles(Order.Delivered)
    def delivered(self, rows: Rows, event: EventRecord) -> None:
        self._step(rows, event, _DELIVERED)

    @handles(Order.Cancelled)
    def cancelled(self, rows: Rows, event: EventRecord) -> None:
        self._step(rows, event, _CANCELLED, "refund_due", money(event.data["refund_due"]))

    def _step(self, rows: Rows, event: EventRecord, status: str, column: str | None = None, value: Any = None) -> None:
        """The order moved to ``status`` (a value of OrderStatus), optionally setting ``column``."""
        row = self._row(rows, event)
        row["status"] = status
        row[STEP_COLUMNS[status]] = timestamp(event.occurred_at)
        if column is not None:
            row[column] = value
        rows.put(self.orders, row)

    def _row(self, rows: Rows, event: EventRecord) -> dict[str, Any]:
        return row_of_placed_order(rows, self.orders, event, OrderSummaryStateError, self.name)


def _subtotal(line: list[Any]) -> Decimal:
    quantity: int
    unit_price: str
    quantity, unit_price = line  # a line's JSON: [quantity, "unit price"]
    return money(unit_price) * quantity


# ---- queries ------------------------------------------------------------


@dataclass(frozen=True)
class OrderSummaryRow:
    order_id: str
    customer_id: str
    channel: str
    currency: str
    status: str
    line_count: int
    total: Decimal
    amount_paid: Decimal | None
    refund_due: Decimal | None
    placed_at: datetime
    confirmed_at: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    lines: tuple[LineView, ...]


def get_order_summary(conn: Connection, order_id: str) -> OrderSummaryRow | None:
    """The summary of one order, or None when the read model has no such order."""
    table = OrderSummary.orders
    row = conn.execute(select(table).where(table.c.order_id == str(order_id))).mappings().first()
    return None if row is None else _summary(row)


def recent_orders(conn: Connection, limit: int = 10) -> list[OrderSummaryRow]:
    """The ``limit`` most recently placed orders, newest first."""
    table = OrderSummary.orders
    query = select(table).order_by(table.c.placed_at.desc(), table.c.order_id).limit(limit)
    return [_summary(row) for row in conn.execute(query).mappings()]


def orders_by_status(conn: Connection) -> dict[str, int]:
    """How many orders are in each status (every status present, zeros included)."""
    table = OrderSummary.orders
    counts = dict.fromkeys(STATUSES, 0)
    query = select(table.c.status, func.count()).group_by(table.c.status)
    for status, count in conn.execute(query):
        counts[status] = count
    return counts


def revenue_by_currency(conn: Connection) -> dict[str, Decimal]:
    """Amounts paid on orders that are paid, shipped or delivered, per currency.

    A paid order that was cancelled is refunded, so it does not count.
    """
    table = OrderSummary.orders
    query = (
        select(table.c.currency, func.sum(table.c.amount_paid))
        .where(table.c.status.in_(REVENUE_STATUSES))
        .group_by(table.c.currency)
        .order_by(table.c.currency)
    )
    return {currency: in_currency(amount, currency) for currency, amount in conn.execute(query)}


def _summary(row: Any) -> OrderSummaryRow:
    return OrderSummaryRow(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        currency=row["currency"],
        status=row["status"],
        line_count=row["line_count"],
        total=in_currency(row["total"], row["currency"]),
        amount_paid=in_currency(row["amount_paid"], row["currency"]),
        refund_due=in_currency(row["refund_due"], row["currency"]),
        placed_at=moment(row["placed_at"]),
        confirmed_at=moment(row["confirmed_at"]),
        paid_at=moment(row["paid_at"]),
        shipped_at=moment(row["shipped_at"]),
        delivered_at=moment(row["delivered_at"]),
        cancelled_at=moment(row["cancelled_at"]),
        lines=tuple(
            LineView(sku, int(quantity), in_currency(money(unit_price), row["currency"]))
            for sku, (quantity, unit_price) in sorted(load_json(row["lines"]).items())
        ),
    )
