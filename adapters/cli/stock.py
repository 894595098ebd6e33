"""``orders stock``: restock a SKU, show its stock."""

from __future__ import annotations

import click

from adapters.cli.app import app, json_option, system_of
from adapters.cli.output import console, emit_json, show_stock
from domain.stock import MAX_RESTOCK


@app.group()
def stock() -> None:
    """Restock SKUs and show their stock: on hand, reserved per order, available."""


@stock.command("restock")
@click.argument("sku")
@click.option("--quantity", required=True, help=f"Units to add on hand, a whole number from 1 to {MAX_RESTOCK}.")
@json_option
@click.pass_context
def restock(ctx: click.Context, sku: str, quantity: str, as_json: bool) -> None:
    """Add units of SKU on hand.

    The first restock of a SKU creates its stock.
    """
    inventory = system_of(ctx).inventory
    inventory.restock(sku, quantity)
    view = inventory.stock(sku)
    if as_json:
        emit_json(view)
    else:
        console.print(
            f"restocked {view.sku}: {view.on_hand} on hand, {view.reserved} reserved, {view.available} available",
            highlight=False,
        )


@stock.command("show")
@click.argument("sku")
@json_option
@click.pass_context
def show(ctx: click.Context, sku: str, as_json: bool) -> None:
    """Show the stock of SKU: on hand, reserved per order, available.

    A SKU never restocked has nothing on hand.
    """
    view = system_of(ctx).inventory.stock(sku)
    if as_json:
        emit_json(view)
    else:
        show_stock(view)
