"""Order commands: place, edit, move through the lifecycle, show, history."""

from __future__ import annotations

import click

from adapters.cli.app import app, json_option, system_of
from adapters.cli.output import console, emit_json, order_json, plain, show_order
from domain.application import Orders


def _orders(ctx: click.Context) -> Orders:
    return system_of(ctx).orders


def parse_line(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise click.BadParameter(f"{spec!r} is not SKU:QTY:PRICE (e.g. BOOK-42:2:19.90)", param_hint="--line")
    sku, quantity, price = (p.strip() for p in parts)
    return sku, quantity, price


def _report(orders: Orders, order_id: str, as_json: bool, what: str) -> None:
    view = orders.get_order(order_id)
    if as_json:
        emit_json(order_json(view))
    else:
        console.print(f"{what}: order {view.order_id} is {view.status.value} (version {view.version})")


order_id_argument = click.argument("order_id")


@app.command()
@click.option("--customer", required=True, help="Customer id.")
@click.option("--line", "lines", multiple=True, required=True, help="SKU:QTY:PRICE, repeatable.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--channel", default="web", show_default=True, help="web, mobile, store, phone or marketplace.")
@click.option("--idempotency-key", help="Placing again with the same key returns the same order.")
@json_option
@click.pass_context
def place(
    ctx: click.Context,
    customer: str,
    lines: tuple[str, ...],
    currency: str,
    channel: str,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Place a new order; prints its id."""
    parsed = [parse_line(spec) for spec in lines]
    orders = _orders(ctx)
    order_id = orders.place_order(customer, parsed, currency, channel, idempotency_key)
    if as_json:
        emit_json(order_json(orders.get_order(order_id)))
    else:
        click.echo(str(order_id))


@app.command("add-line")
@order_id_argument
@click.option("--line", required=True, help="SKU:QTY:PRICE")
@json_option
@click.pass_context
def add_line(ctx: click.Context, order_id: str, line: str, as_json: bool) -> None:
    """Add a line to a placed order."""
    sku, quantity, price = parse_line(line)
    orders = _orders(ctx)
    orders.add_line(order_id, sku, quantity, price)
    _report(orders, order_id, as_json, f"added {sku}")


@app.command("remove-line")
@order_id_argument
@click.option("--sku", required=True)
@json_option
@click.pass_context
def remove_line(ctx: click.Context, order_id: str, sku: str, as_json: bool) -> None:
    """Remove a line from a placed order."""
    orders = _orders(ctx)
    orders.remove_line(order_id, sku)
    _report(orders, order_id, as_json, f"removed {sku}")


@app.command("change-quantity")
@order_id_argument
@click.option("--sku", required=True)
@click.option("--quantity", required=True)
@json_option
@click.pass_context
def change_quantity(ctx: click.Context, order_id: str, sku: str, quantity: str, as_json: bool) -> None:
    """Change the quantity of a line of a placed order."""
    orders = _orders(ctx)
    orders.change_quantity(order_id, sku, quantity)
    _report(orders, order_id, as_json, f"{sku} quantity changed")


@app.command("set-address")
@order_id_argument
@click.option("--name", required=True)
@click.option("--street", required=True)
@click.option("--city", required=True)
@click.option("--postal-code", required=True)
@click.option("--country", required=True, help="Two-letter ISO code.")
@json_option
@click.pass_context
def set_address(
    ctx: click.Context,
    order_id: str,
    name: str,
    street: str,
    city: str,
    postal_code: str,
    country: str,
    as_json: bool,
) -> None:
    """Set the shipping address (before payment)."""
    orders = _orders(ctx)
    orders.set_shipping_address(
        order_id,
        {"name": name, "street": street, "city": city, "postal_code": postal_code, "country": country},
    )
    _report(orders, order_id, as_json, "address set")


@app.command()
@order_id_argument
@json_option
@click.pass_context
def confirm(ctx: click.Context, order_id: str, as_json: bool) -> None:
    """Confirm a placed order (needs lines and a shipping address)."""
    orders = _orders(ctx)
    orders.confirm(order_id)
    _report(orders, order_id, as_json, "confirmed")


@app.command()
@order_id_argument
@click.option("--reference", required=True, help="Payment reference.")
@click.option("--amount", required=True, help="Must equal the order total.")
@click.option("--currency", help="Defaults to the order's currency.")
@json_option
@click.pass_context
def pay(ctx: click.Context, order_id: str, reference: str, amount: str, currency: str | None, as_json: bool) -> None:
    """Record the payment of a confirmed order."""
    orders = _orders(ctx)
    currency = currency or orders.get_order(order_id).currency
    orders.record_payment(order_id, reference, amount, currency)
    _report(orders, order_id, as_json, "paid")


@app.command()
@order_id_argument
@click.option("--carrier", required=True)
@click.option("--tracking", required=True, help="Tracking number.")
@json_option
@click.pass_context
def ship(ctx: click.Context, order_id: str, carrier: str, tracking: str, as_json: bool) -> None:
    """Ship a paid order."""
    orders = _orders(ctx)
    orders.ship(order_id, carrier, tracking)
    _report(orders, order_id, as_json, "shipped")


@app.command()
@order_id_argument
@json_option
@click.pass_context
def deliver(ctx: click.Context, order_id: str, as_json: bool) -> None:
    """Mark a shipped order delivered."""
    orders = _orders(ctx)
    orders.mark_delivered(order_id)
    _report(orders, order_id, as_json, "delivered")


@app.command()
@order_id_argument
@click.option("--reason", default="", help="Why the order is cancelled.")
@json_option
@click.pass_context
def cancel(ctx: click.Context, order_id: str, reason: str, as_json: bool) -> None:
    """Cancel a placed, confirmed or paid order (a paid one records a refund due)."""
    orders = _orders(ctx)
    orders.cancel(order_id, reason)
    _report(orders, order_id, as_json, "cancelled")


@app.command()
@order_id_argument
@json_option
@click.pass_context
def show(ctx: click.Context, order_id: str, as_json: bool) -> None:
    """Show an order."""
    view = _orders(ctx).get_order(order_id)
    if as_json:
        emit_json(order_json(view))
    else:
        show_order(view)


@app.command()
@order_id_argument
@json_option
@click.pass_context
def history(ctx: click.Context, order_id: str, as_json: bool) -> None:
    """Show an order's events, oldest first."""
    records = _orders(ctx).order_history(order_id)
    if as_json:
        emit_json([plain(r) for r in records])
        return
    for r in records:
        details = ", ".join(f"{k}={v}" for k, v in r.data.items() if k != "fingerprint")
        console.print(
            f"v{r.aggregate_version}  {r.occurred_at}  [bold]{r.event_type}[/bold]  {details}",
            highlight=False,
        )
