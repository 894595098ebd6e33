"""``orders views``: read the built-in read models (never the event store).

The figures are as fresh as the projections: run ``orders projections run``
to bring them up to date. Exit codes: 1 for an order or customer the read
model does not hold, 2 for a read-model database that is not migrated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import click
from rich.table import Table as RichTable
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from adapters.cli.app import app, json_option, settings_of, system_of
from adapters.cli.output import console, emit_json, plain
from adapters.config import redact
from adapters.sql.engines import sqlalchemy_url
from adapters.sql.migrations import check_schema
from domain.application import parse_order_id
from domain.errors import OrderError
from domain.money import check_currency
from projections.customer_orders import (
    CustomerOrdersRow,
    get_customer_orders,
    lifetime_value_by_currency,
    top_customers,
)
from projections.order_summary import (
    STATUSES,
    OrderSummaryRow,
    get_order_summary,
    orders_by_status,
    revenue_by_currency,
)
from projections.product_sales import ProductSalesRow, sales_currencies, top_products

EXIT_NOT_FOUND = 1
EXIT_NOT_MIGRATED = 2


class NotInReadModelError(click.ClickException):
    exit_code = EXIT_NOT_FOUND


class ReadModelNotMigratedError(click.ClickException):
    exit_code = EXIT_NOT_MIGRATED


class ReadModelUnavailableError(click.ClickException):
    exit_code = 1


@contextmanager
def read_model(ctx: click.Context) -> Iterator[Connection]:
    """A connection to the read-model database, once its schema is known to be current.

    A schema behind the code (or no database at all) is refused with the
    hint to run ``orders db upgrade`` (exit 2).
    """
    settings = settings_of(ctx)
    url = settings.read_model_url
    parsed = make_url(sqlalchemy_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        # Say so rather than create an empty file by connecting.
        raise ReadModelNotMigratedError(
            f"there is no read-model database at {parsed.database}; run `orders db upgrade`, "
            "then `orders projections run --until-caught-up`"
        )
    system = system_of(ctx)
    engine = system.read_models_for_reading
    try:
        check_schema(engine, settings, system.projections)
        conn = engine.connect()
    except OperationalError as e:
        raise ReadModelUnavailableError(
            f"cannot reach the read-model database {redact(url)}: {str(e.orig).strip().splitlines()[0]}"
        ) from e
    with conn:
        yield conn


def _currency(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_currency(value)
    except OrderError as e:
        raise click.BadParameter(str(e)) from None


currency_option = click.option(
    "--currency", callback=_currency, help="Only this currency (ISO code, e.g. EUR)."
)
limit_option = click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(min=1), help="How many to list."
)


@app.group()
def views() -> None:
    """Read the read models: orders, customers, products, statuses."""


@views.command("order")
@click.argument("order_id")
@json_option
@click.pass_context
def order(ctx: click.Context, order_id: str, as_json: bool) -> None:
    """One order's summary (read model order_summary)."""
    uuid = parse_order_id(order_id)
    with read_model(ctx) as conn:
        summary = get_order_summary(conn, str(uuid))
    if summary is None:
        raise NotInReadModelError(
            f"order {uuid} is not in the order_summary read model; check the id, or run "
            "`orders projections run --until-caught-up` if it was placed just now"
        )
    if as_json:
        emit_json(plain(summary) | {"lines": [plain(ln) | {"subtotal": str(ln.subtotal)} for ln in summary.lines]})
    else:
        _show_summary(summary)


@views.command("customer")
@click.argument("customer_id")
@json_option
@click.pass_context
def customer(ctx: click.Context, customer_id: str, as_json: bool) -> None:
    """One customer's orders and lifetime value (read model customer_orders)."""
    with read_model(ctx) as conn:
        row = get_customer_orders(conn, customer_id)
    if row is None:
        raise NotInReadModelError(
            f"customer {customer_id!r} has no orders in the customer_orders read model; "
            "check the customer id"
        )
    if as_json:
        emit_json(row)
        return
    console.print(
        f"[bold]Customer {row.customer_id}[/bold]  {row.order_count} orders, "
        f"{row.open_orders} open, last order {_when(row.last_order_at)}"
    )
    table = RichTable("Currency", "Lifetime value paid", title="Lifetime value (net of refunds)")
    for currency, value in row.lifetime_value.items():
        table.add_row(currency, str(value))
    if not row.lifetime_value:
        table.add_row("-", "nothing paid yet")
    console.print(table)


@views.command("top-products")
@click.option("--by", type=click.Choice(["revenue", "units"]), default="revenue", show_default=True,
              help="Rank by revenue (per currency) or by units paid.")
@limit_option
@currency_option
@json_option
@click.pass_context
def top_products_command(ctx: click.Context, by: str, limit: int, currency: str | None, as_json: bool) -> None:
    """Best-selling products (read model product_sales).

    Revenue in different currencies is never added up: ranking by revenue
    gives one ranking per currency (or only --currency).
    """
    with read_model(ctx) as conn:
        rankings: list[tuple[str | None, list[ProductSalesRow]]]
        if by == "units":
            rankings = [(None, top_products(conn, limit, by="units"))]
        else:
            currencies = [currency] if currency else sales_currencies(conn)
            rankings = [(c, top_products(conn, limit, by="revenue", currency=c)) for c in currencies]
    if as_json:
        emit_json([{"by": by, "currency": c, "products": products} for c, products in rankings])
        return
    if not rankings:
        console.print("No product has been paid for yet.")
    for c, products in rankings:
        show_products(products, by, c)


@views.command("top-customers")
@click.option("--by", type=click.Choice(["orders", "value"]), default="orders", show_default=True,
              help="Rank by orders placed or by lifetime value (per currency).")
@limit_option
@currency_option
@json_option
@click.pass_context
def top_customers_command(ctx: click.Context, by: str, limit: int, currency: str | None, as_json: bool) -> None:
    """Best customers (read model customer_orders)."""
    with read_model(ctx) as conn:
        rankings: list[tuple[str | None, list[CustomerOrdersRow]]]
        if by == "orders":
            rankings = [(None, top_customers(conn, limit, by="orders"))]
        else:
            currencies = [currency] if currency else list(lifetime_value_by_currency(conn))
            rankings = [(c, top_customers(conn, limit, by="value", currency=c)) for c in currencies]
    if as_json:
        emit_json([{"by": by, "currency": c, "customers": customers} for c, customers in rankings])
        return
    for c, customers in rankings:
        show_customers(customers, title=f"Top customers by {by}" + (f" ({c})" if c else ""))


@views.command("statuses")
@json_option
@click.pass_context
def statuses(ctx: click.Context, as_json: bool) -> None:
    """Orders by status and revenue by currency (read model order_summary)."""
    with read_model(ctx) as conn:
        counts = orders_by_status(conn)
        revenue = revenue_by_currency(conn)
    if as_json:
        emit_json({"orders_by_status": counts, "revenue_by_currency": revenue})
        return
    table = RichTable("Status", "Orders", title="Orders by status")
    for status in STATUSES:
        table.add_row(status, str(counts[status]))
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values())}[/bold]")
    console.print(table)
    money = RichTable("Currency", "Revenue paid", title="Revenue by currency")
    for currency, amount in revenue.items():
        money.add_row(currency, str(amount))
    console.print(money)


# ---- rendering ------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _show_summary(s: OrderSummaryRow) -> None:
    console.print(
        f"[bold]Order {s.order_id}[/bold]  {s.status}  customer {s.customer_id}  channel {s.channel}"
    )
    lines = RichTable("SKU", "Qty", "Unit price", "Subtotal")
    for ln in s.lines:
        lines.add_row(ln.sku, str(ln.quantity), str(ln.unit_price), str(ln.subtotal))
    lines.add_row("", "", "[bold]Total[/bold]", f"[bold]{s.total} {s.currency}[/bold]")
    console.print(lines)
    steps = RichTable("Step", "At")
    for step, at in (("placed", s.placed_at), ("confirmed", s.confirmed_at), ("paid", s.paid_at),
                     ("shipped", s.shipped_at), ("delivered", s.delivered_at), ("cancelled", s.cancelled_at)):
        if at is not None:
            steps.add_row(step, _when(at))
    console.print(steps)
    if s.amount_paid is not None:
        console.print(f"Paid: {s.amount_paid} {s.currency}")
    if s.refund_due is not None:
        console.print(f"Refund due: {s.refund_due} {s.currency}")


def _money_by_currency(amounts: dict[str, Decimal]) -> str:
    return "\n".join(f"{amount} {currency}" for currency, amount in amounts.items()) or "-"


def show_products(products: list[ProductSalesRow], by: str, currency: str | None = None) -> None:
    title = "Top products by units paid" if by == "units" else f"Top products by revenue ({currency})"
    table = RichTable("#", "SKU", "Units ordered", "Units paid", "Units cancelled", "Revenue", title=title)
    for rank, p in enumerate(products, 1):
        revenue = str(p.revenue.get(currency, 0)) + f" {currency}" if currency else _money_by_currency(p.revenue)
        table.add_row(str(rank), p.sku, str(p.units_ordered), str(p.units_paid), str(p.units_cancelled), revenue)
    console.print(table)


def show_customers(customers: list[CustomerOrdersRow], title: str) -> None:
    table = RichTable("#", "Customer", "Orders", "Open", "Lifetime value", "Last order", title=title)
    for rank, c in enumerate(customers, 1):
        table.add_row(str(rank), c.customer_id, str(c.order_count), str(c.open_orders),
                      _money_by_currency(c.lifetime_value), _when(c.last_order_at))
    console.print(table)
