"""A simulated day through the domain API adds up, in one call or in two phases around the reactors."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from adapters.cli.demo_day import catalogue, restock_catalogue, ship_paid, simulate_day
from domain.order import OrderStatus

PAID_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


@pytest.fixture
def day(orders_app):
    return simulate_day(orders_app, n_orders=50, n_customers=10, seed=3)


def test_the_status_counts_of_a_day_add_up_to_its_orders(day):
    assert (day.orders, sum(day.by_status.values())) == (50, 50)


def test_the_status_counts_of_a_day_match_the_orders(orders_app, day):
    counted = Counter(orders_app.get_order(i).status.value for i in day.order_ids)
    assert day.by_status == dict(counted)


def test_the_revenue_of_a_day_is_what_paid_shipped_and_delivered_orders_paid(orders_app, day):
    revenue: Counter = Counter()
    for order_id in day.order_ids:
        view = orders_app.get_order(order_id)
        if view.status in PAID_STATUSES:
            revenue[view.currency] += view.amount_paid
    assert day.revenue_by_currency == dict(revenue)
    assert sum(day.revenue_by_currency.values(), Decimal(0)) > 0



@pytest.fixture
def day_to_pay(orders_app):
    return simulate_day(orders_app, n_orders=50, n_customers=10, seed=3, paid_by_reactor=True)


def test_a_day_paid_by_the_reactor_stops_at_confirming_its_orders(orders_app, day_to_pay):
    statuses = Counter(orders_app.get_order(i).status for i in day_to_pay.order_ids)
    assert set(statuses) <= {OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.CANCELLED}
    assert statuses[OrderStatus.CONFIRMED] > 0


def test_shipping_a_day_takes_on_its_paid_orders_only(orders_app, day_to_pay):
    confirmed = [i for i in day_to_pay.order_ids if orders_app.get_order(i).status is OrderStatus.CONFIRMED]
    paid = confirmed[: len(confirmed) // 2]
    for order_id in paid:  # what the payment reactor does
        view = orders_app.get_order(order_id)
        orders_app.record_payment(order_id, f"psp-{order_id.hex[:8]}", view.total, view.currency)
    before = {i: orders_app.get_order(i).status for i in day_to_pay.order_ids}
    day = ship_paid(orders_app, day_to_pay, seed=3)
    after = {i: orders_app.get_order(i).status for i in day.order_ids}
    assert {i for i in after if after[i] != before[i]} <= set(paid)
    assert Counter(after[i] for i in paid)[OrderStatus.DELIVERED] > 0
    assert day.by_status == dict(Counter(s.value for s in after.values()))


def test_the_catalogue_is_restocked_sku_by_sku_some_scarcely(inventory_app):
    restocked = restock_catalogue(inventory_app, n_orders=2000, seed=3)
    assert sorted(restocked) == sorted(p.sku for p in catalogue(random.Random(3)))
    assert {sku: inventory_app.stock(sku).on_hand for sku in restocked} == restocked
    assert min(restocked.values()) < max(restocked.values())
