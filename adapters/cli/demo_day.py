"""A simulated day of orders, driven through the domain API.

Deterministic for a given seed: the same seed gives the same commands (order
ids differ; they are random UUIDs). Used by ``orders demo`` and the benchmarks.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain.application import LineSpec, Orders
from domain.order import OrderStatus

CURRENCIES = (("EUR", 0.7), ("USD", 0.2), ("GBP", 0.1))
CHANNELS = (("web", 0.55), ("mobile", 0.3), ("store", 0.1), ("phone", 0.05))
CITIES = (("Berlin", "DE"), ("Paris", "FR"), ("Madrid", "ES"), ("Leeds", "GB"), ("Boston", "US"), ("Rome", "IT"))
CATEGORIES = ("BOOK", "GAME", "TOOL", "LAMP", "MUG", "SOCK", "DESK", "PEN")


@dataclass(frozen=True)
class Product:
    sku: str
    price: Decimal


@dataclass
class DaySummary:
    orders: int
    commands: int
    by_status: dict[str, int]
    revenue_by_currency: dict[str, Decimal]
    refunds_due_by_currency: dict[str, Decimal]
    order_ids: list[UUID] = field(repr=False)


def catalogue(rng: random.Random, size: int = 40) -> list[Product]:
    products = []
    for i in range(size):
        cents = rng.choice((499, 999, 1299, 1999, 2499, 4999, 8999, 12900))
        products.append(Product(f"{CATEGORIES[i % len(CATEGORIES)]}-{100 + i}", Decimal(cents).scaleb(-2)))
    return products


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def simulate_day(
    orders: Orders,
    n_orders: int = 2000,
    n_customers: int = 300,
    seed: int = 7,
    on_order: Callable[[], None] = lambda: None,
) -> DaySummary:
    """Place ``n_orders`` and move them through a realistic mix of outcomes."""
    rng = random.Random(seed)
    products = catalogue(rng)
    customers = [f"customer-{i:04d}" for i in range(n_customers)]
    ids: list[UUID] = []
    commands = 0
    for number in range(n_orders):
        currency = _pick(rng, CURRENCIES)
        chosen = rng.sample(products, rng.choice((1, 1, 2, 2, 3, 4)))
        lines = [(p.sku, rng.choice((1, 1, 1, 2, 3)), p.price) for p in chosen]
        key = f"demo-{seed}-{number}" if rng.random() < 0.3 else None
        placement = (rng.choice(customers), lines, currency, _pick(rng, CHANNELS), key)
        order_id = orders.place_order(*placement)
        commands += 1
        if key is not None and rng.random() < 0.1:
            # A client retrying with the same key gets the same order back.
            if orders.place_order(*placement) != order_id:
                raise RuntimeError(f"idempotency key {key} gave a second order")
            commands += 1
        commands += _edit(orders, order_id, rng, products, lines)
        commands += _advance(orders, order_id, rng)
        ids.append(order_id)
        on_order()
    return summarize(orders, ids, commands)


def _edit(
    orders: Orders, order_id: UUID, rng: random.Random, products: list[Product], lines: Sequence[LineSpec]
) -> int:
    commands = 0
    skus = [sku for sku, _, _ in lines]
    if rng.random() < 0.25:
        extra = rng.choice([p for p in products if p.sku not in skus])
        orders.add_line(order_id, extra.sku, rng.randint(1, 3), extra.price)
        skus.append(extra.sku)
        commands += 1
    if rng.random() < 0.2:
        orders.change_quantity(order_id, rng.choice(skus), rng.randint(1, 5))
        commands += 1
    if len(skus) > 1 and rng.random() < 0.15:
        orders.remove_line(order_id, rng.choice(skus))
        commands += 1
    return commands


def _advance(orders: Orders, order_id: UUID, rng: random.Random) -> int:
    """Move the order as far as this day takes it; returns the commands issued."""
    if rng.random() < 0.04:
        orders.cancel(order_id, "changed my mind")
        return 1
    if rng.random() < 0.05:
        return 0  # abandoned: stays placed
    city, country = rng.choice(CITIES)
    orders.set_shipping_address(
        order_id,
        {"name": "Sam Doe", "street": f"{rng.randint(1, 200)} Main St", "city": city,
         "postal_code": f"{rng.randint(10000, 99999)}", "country": country},
    )
    orders.confirm(order_id)
    if rng.random() < 0.06:
        orders.cancel(order_id, "found it cheaper")
        return 3
    if rng.random() < 0.05:
        return 2  # awaiting payment
    view = orders.get_order(order_id)
    reference = f"pay-{order_id.hex[:12]}"
    orders.record_payment(order_id, reference, view.total, view.currency)
    if rng.random() < 0.02:
        orders.record_payment(order_id, reference, view.total, view.currency)  # a duplicate webhook
    if rng.random() < 0.03:
        orders.cancel(order_id, "out of stock")
        return 4
    if rng.random() < 0.1:
        return 3  # paid, not yet shipped
    orders.ship(order_id, rng.choice(("DHL", "UPS", "DPD")), f"TRK{rng.randint(10**8, 10**9)}")
    if rng.random() < 0.2:
        return 4  # in transit
    orders.mark_delivered(order_id)
    return 5


def summarize(orders: Orders, order_ids: list[UUID], commands: int) -> DaySummary:
    """Orders by status and revenue by currency, read back through the domain API."""
    by_status: Counter[str] = Counter()
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    refunds: dict[str, Decimal] = defaultdict(Decimal)
    for order_id in order_ids:
        view = orders.get_order(order_id)
        by_status[view.status.value] += 1
        if view.status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            revenue[view.currency] += view.amount_paid or Decimal(0)
        if view.refund_due:
            refunds[view.currency] += view.refund_due
    return DaySummary(
        orders=len(order_ids),
        commands=commands,
        by_status=dict(by_status),
        revenue_by_currency=dict(revenue),
        refunds_due_by_currency=dict(refunds),
        order_ids=order_ids,
    )
