"""The inventory reactor: an order's lines hold stock while it is open; shipping takes it, cancelling frees it.

On ``Order.Placed`` it asks the inventory to reserve every line; a line added
later is reserved too, a line removed is released, a changed quantity is
released and reserved again. If a line cannot be reserved, the inventory
releases what that request took and the order is cancelled with the reason
``out of stock: <SKU>`` (the dispatcher does both: see the ``reserve``
command). ``Order.Cancelled`` releases every reservation of the order,
``Order.Shipped`` turns them into shipments.

State: the SKUs each order holds stock of, so that a cancellation or a
shipment names them. An order placed before the reactor started is not
known: its cancellation or shipment asks nothing of the inventory.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text

from domain.order import Order
from domain.records import EventRecord
from projections.contract import Rows
from projections.values import dump_json, load_json
from reactors.contract import Command, Effect, Reactor, reacts_to


def reserve(order_id: str, lines: list[tuple[str, int]]) -> Command:
    args = {"order_id": order_id, "lines": [list(line) for line in lines]}
    return Command(target="inventory", action="reserve", args=args)


def release(order_id: str, skus: list[str]) -> Command:
    return Command(target="inventory", action="release", args={"order_id": order_id, "skus": skus})


def ship(order_id: str, skus: list[str]) -> Command:
    return Command(target="inventory", action="ship", args={"order_id": order_id, "skus": skus})


class InventoryReactor(Reactor):
    name = "inventory"
    version = 1
    metadata = MetaData()
    orders = Table(
        "inventory_orders",
        metadata,
        Column("order_id", String(36), primary_key=True),
        Column("skus", Text, nullable=False),  # JSON list, sorted
    )

    @reacts_to(Order.Placed)
    def placed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        lines = [(str(line["sku"]), int(line["quantity"])) for line in event.data["lines"]]
        self._hold(rows, event.aggregate_id, {sku for sku, _ in lines})
        return [reserve(event.aggregate_id, sorted(lines))]

    @reacts_to(Order.LineAdded)
    def line_added(self, rows: Rows, event: EventRecord) -> list[Effect]:
        sku = str(event.data["sku"])
        self._hold(rows, event.aggregate_id, self._skus(rows, event.aggregate_id) | {sku})
        return [reserve(event.aggregate_id, [(sku, int(event.data["quantity"]))])]

    @reacts_to(Order.LineRemoved)
    def line_removed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        sku = str(event.data["sku"])
        self._hold(rows, event.aggregate_id, self._skus(rows, event.aggregate_id) - {sku})
        return [release(event.aggregate_id, [sku])]

    @reacts_to(Order.QuantityChanged)
    def quantity_changed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        sku = str(event.data["sku"])
        quantity = int(event.data["quantity"])
        return [release(event.aggregate_id, [sku]), reserve(event.aggregate_id, [(sku, quantity)])]

    @reacts_to(Order.Cancelled)
    def cancelled(self, rows: Rows, event: EventRecord) -> list[Effect]:
        skus = sorted(self._skus(rows, event.aggregate_id))
        rows.delete(self.orders, event.aggregate_id)
        return [release(event.aggregate_id, skus)] if skus else []

    @reacts_to(Order.Shipped)
    def shipped(self, rows: Rows, event: EventRecord) -> list[Effect]:
        skus = sorted(self._skus(rows, event.aggregate_id))
        rows.delete(self.orders, event.aggregate_id)
        return [ship(event.aggregate_id, skus)] if skus else []

    def _skus(self, rows: Rows, order_id: str) -> set[str]:
        row = rows.get(self.orders, order_id)
        return set(load_json(row["skus"])) if row is not None else set()

    def _hold(self, rows: Rows, order_id: str, skus: set[str]) -> None:
        row: dict[str, Any] = {"order_id": order_id, "skus": dump_json(sorted(skus))}
        rows.put(self.orders, row)
