"""A simulated day of orders, driven through the domain API.

Deterministic for a given seed: the same seed gives the same commands (order
ids differ; they are random UUIDs). Used by ``orders demo`` and the benchmarks.

A day is one call (:func:`simulate_day`: the day pays and ships its orders
itself) or, when the payment reactor takes the payments, two phases:
``simulate_day(..., paid_by_reactor=True)`` places, edits and confirms the
orders and stops there; once the reactors have captured the payments,
:func:`ship_paid` ships a share of the orders that were paid.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain.application import LineSpec, Orders
from domain.inventory import Inventory
from domain.order import OrderStatus

CURRENCIES = (("EUR", 0.7), ("USD", 0.2), ("GBP", 0.1))
CHANNELS = (("web", 0.55), ("mobile", 0.3), ("store", 0.1), ("phone", 0.05))
CITIES = (("Berlin", "DE"), ("Paris", "FR"), ("Madrid", "ES"), ("Leeds", "GB"), ("Boston", "US"), ("Rome", "IT"))
CATEGORIES = ("BOOK", "GAME", "TOOL", "LAMP", "MUG", "SOCK", "DESK", "PEN")

# A day orders about 0.1 units of each SKU per order (0.09 net of the orders
# cancelled soon after placing). Most SKUs are restocked with twice that;
# one in ten only with enough for part of the day, so some orders run out.
RESTOCK_PER_ORDER = 0.2
SCARCE_PER_ORDER = 0.06
SCARCE_SHARE = 0.1
MAX_RESTOCK = 1_000_000


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


def restock_catalogue(inventory: Inventory, n_orders: int, seed: int = 7) -> dict[str, int]:
    """Restock every SKU of the day's catalogue for a day of ``n_orders``; the units restocked per SKU.

    One SKU in ten (chosen by ``seed``) is scarce: restocked with about
    two thirds of what the day orders of it, so the orders placed late in
    the day find it short.
    """
    products = catalogue(random.Random(seed))  # the catalogue simulate_day draws first with this seed
    scarce = set(random.Random(f"scarce-{seed}").sample(range(len(products)), round(len(products) * SCARCE_SHARE)))
    restocked = {}
    for i, product in enumerate(products):
        share = SCARCE_PER_ORDER if i in scarce else RESTOCK_PER_ORDER
        restocked[product.sku] = min(MAX_RESTOCK, max(1, round(n_orders * share)))
        inventory.restock(product.sku, restocked[product.sku])
    return restocked


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def simulate_day(
    orders: Orders,
    n_orders: int = 2000,
    n_customers: int = 300,
    seed: int = 7,
    on_order: Callable[[], None] = lambda: None,
    *,
    paid_by_reactor: bool = False,
) -> DaySummary:
    """Place ``n_orders`` and move them through a realistic mix of outcomes.

    ``paid_by_reactor``: the day stops at confirming an order (it records
    no payment and ships nothing); the payment reactor captures what was
    confirmed, then :func:`ship_paid` takes the day on.
    """
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
        commands += _advance(orders, order_id, rng, pay=not paid_by_reactor)
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


def _advance(orders: Orders, order_id: UUID, rng: random.Random, *, pay: bool) -> int:
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
    if not pay:
        return 2  # the payment reactor captures it
    if rng.random() < 0.05:
        return 2  # awaiting payment
    view = orders.get_order(order_id)
    reference = f"pay-{order_id.hex[:12]}"
    orders.record_payment(order_id, reference, view.total, view.currency)
    return 3 + _fulfil(orders, order_id, rng)


def _fulfil(orders: Orders, order_id: UUID, rng: random.Random) -> int:
    """Take a paid order on: cancel it, leave it, ship it or deliver it; returns the commands issued."""
    if rng.random() < 0.02:
        view = orders.get_order(order_id)
        assert view.payment_reference is not None and view.amount_paid is not None  # the order is paid
        orders.record_payment(order_id, view.payment_reference, view.amount_paid, view.currency)  # a duplicate webhook
    if rng.random() < 0.03:
        # Not "out of stock": that is the inventory reactor's reason when it cannot reserve.
        orders.cancel(order_id, "no longer needed")
        return 1
    if rng.random() < 0.1:
        return 0  # paid, not yet shipped
    orders.ship(order_id, rng.choice(("DHL", "UPS", "DPD")), f"TRK{rng.randint(10**8, 10**9)}")
    if rng.random() < 0.2:
        return 1  # in transit
    orders.mark_delivered(order_id)
    return 2


def ship_paid(
    orders: Orders, day: DaySummary, seed: int = 7, on_order: Callable[[], None] = lambda: None
) -> DaySummary:
    """The rest of a day paid by the payment reactor: its paid orders shipped, delivered, cancelled or left.

    The orders are taken in the order they were placed, each paid one as
    :func:`simulate_day` takes an order it paid itself; ``on_order`` is
    called for each order of the day.
    """
    rng = random.Random(f"ship-{seed}")
    commands = day.commands
    for order_id in day.order_ids:
        if orders.get_order(order_id).status is OrderStatus.PAID:
            commands += _fulfil(orders, order_id, rng)
        on_order()
    return summarize(orders, day.order_ids, commands)


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
