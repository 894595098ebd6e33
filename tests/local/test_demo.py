"""A simulated day through the domain API adds up."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from adapters.cli.demo_day import simulate_day
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

