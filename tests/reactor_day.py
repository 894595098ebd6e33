"""A small day for the reactors' tests: a stocked catalogue, orders placed and edited, some confirmed.

``expected(orders, inventory)`` is the oracle: what the stock, the orders and
the mails must be once the reactors have handled the day, computed from the
orders' own events and the restocks, independently of the reactors' tables.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain.application import Orders
from domain.inventory import Inventory
from domain.order import OrderStatus

ADDRESS = {"name": "Sam Doe", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


@dataclass
class Day:
    catalogue: dict[str, Decimal]
    restocked: Counter[str] = field(default_factory=Counter)
    order_ids: list[UUID] = field(default_factory=list)


def restock(inventory: Inventory, seed: int, skus: int = 6, quantity: int = 12) -> Day:
    rng = random.Random(seed)
    day = Day({f"ITEM-{i:02d}": Decimal(rng.randint(100, 5000)) / 100 for i in range(skus)})
    for sku in day.catalogue:
        inventory.restock(sku, quantity)
        day.restocked[sku] += quantity
    return day


def place_orders(orders: Orders, day: Day, seed: int, n: int = 20) -> None:
    """``n`` orders of 1-3 lines; some edited, some confirmed (to be paid by the payment reactor)."""
    rng = random.Random(seed)
    skus = sorted(day.catalogue)
    for _ in range(n):
        lines = [(sku, rng.randint(1, 4), day.catalogue[sku]) for sku in rng.sample(skus, rng.randint(1, 3))]
        order_id = orders.place_order(f"customer-{rng.randint(1, 8)}", lines, currency="EUR")
        day.order_ids.append(order_id)
        if rng.random() < 0.3:
            free = [s for s in skus if s not in {line[0] for line in lines}]
            if free:
                orders.add_line(order_id, free[0], rng.randint(1, 2), day.catalogue[free[0]])
        if rng.random() < 0.6:
            orders.set_shipping_address(order_id, ADDRESS)
            orders.confirm(order_id)


@dataclass(frozen=True)
class Expected:
    on_hand: dict[str, int]
    reserved: dict[str, int]
    mails: int  # placement mails, plus one per cancellation


def expected(orders: Orders, day: Day) -> Expected:
    """What the reactors must have made of the day: stock held by every order still open, none shipped."""
    reserved: Counter[str] = Counter()
    cancelled = 0
    for order_id in day.order_ids:
        view = orders.get_order(order_id)
        if view.status is OrderStatus.CANCELLED:
            cancelled += 1
            continue
        for line in view.lines:
            reserved[line.sku] += line.quantity
    return Expected(dict(day.restocked), {s: reserved[s] for s in day.catalogue}, len(day.order_ids) + cancelled)
