"""Rendering for the CLI: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from domain.records import EventRecord, to_jsonable
from domain.views import OrderView, StockView

console = Console()


def plain(value: Any) -> Any:
    """Dataclasses, enums, decimals, UUIDs and datetimes as JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        # Not dataclasses.asdict: it deep-copies every field, and an OrderView's
        # shipping address is a MappingProxyType, which cannot be copied.
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, EventRecord):
        value = value.as_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return to_jsonable(value)


def emit_json(value: Any) -> None:
    print(json.dumps(plain(value), indent=2, sort_keys=True))


def order_json(view: OrderView) -> dict[str, Any]:
    data: dict[str, Any] = plain(view)  # plain() makes a dataclass a dict
    data["lines"] = [
        {**plain(line), "subtotal": str(line.subtotal)} for line in view.lines
    ]
    return data


def show_order(view: OrderView) -> None:
    console.print(
        f"[bold]Order {view.order_id}[/bold]  {view.status.value}  "
        f"customer {view.customer_id}  channel {view.channel}  version {view.version}"
    )
    table = Table("SKU", "Qty", "Unit price", "Subtotal")
    for line in view.lines:
        table.add_row(line.sku, str(line.quantity), str(line.unit_price), str(line.subtotal))
    table.add_row("", "", "[bold]Total[/bold]", f"[bold]{view.total} {view.currency}[/bold]")
    console.print(table)
    if view.shipping_address:
        a = view.shipping_address
        console.print(f"Ship to: {a['name']}, {a['street']}, {a['postal_code']} {a['city']}, {a['country']}")
    if view.payment_reference:
        console.print(f"Paid: {view.amount_paid} {view.currency} ({view.payment_reference})")
    if view.carrier:
        console.print(f"Shipped: {view.carrier} {view.tracking_number}")
    if view.cancel_reason:
        console.print(f"Cancelled: {view.cancel_reason}; refund due {view.refund_due} {view.currency}")


def show_stock(view: StockView) -> None:
    never = "  (never restocked)" if view.version == 0 else ""
    console.print(
        f"[bold]Stock {view.sku}[/bold]  on hand {view.on_hand}  reserved {view.reserved}  "
        f"available {view.available}  version {view.version}{never}",
        highlight=False,
    )
    if view.reservations:
        table = Table("Order", "Reserved")
        for order_id, quantity in view.reservations.items():
            table.add_row(str(order_id), str(quantity))
        console.print(table)
