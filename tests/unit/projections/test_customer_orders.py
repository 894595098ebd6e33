"""customer_orders handlers: given real order events, the expected rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.customer_orders import CustomerOrders, CustomerOrdersStateError
from projections.testing import InMemoryRows, project
from projections.values import timestamp
from tests.unit.projections.stories import OrderStory, at, interleave


def project_stories(*stories: OrderStory) -> InMemoryRows:
    return project(CustomerOrders(), [r for story in stories for r in story.records])


def customer(rows: InMemoryRows, customer_id: str = "customer-1") -> dict | None:
    return rows.get(CustomerOrders.customers, customer_id)


def value(rows: InMemoryRows, currency: str, customer_id: str = "customer-1") -> dict | None:
    return rows.get(CustomerOrders.lifetime_values, customer_id, currency)


def test_placing_a_first_order_creates_the_customer_row() -> None:
    story = OrderStory(customer_id="customer-1")
    assert customer(project_stories(story)) == {
        "customer_id": "customer-1",
        "order_count": 1,
        "open_orders": 1,
        "last_order_at": timestamp(story.records[0].occurred_at),
    }


def test_each_order_placed_counts_for_its_customer() -> None:
    rows = project_stories(OrderStory(), OrderStory(), OrderStory())
    assert (customer(rows)["order_count"], customer(rows)["open_orders"]) == (3, 3)


def test_orders_of_different_customers_are_counted_apart() -> None:
    rows = project_stories(OrderStory(customer_id="a"), OrderStory(customer_id="b"), OrderStory(customer_id="b"))
    assert (customer(rows, "a")["order_count"], customer(rows, "b")["order_count"]) == (1, 2)


def test_last_order_time_is_the_latest_placement_whatever_the_arrival_order() -> None:
    early, late = OrderStory(), OrderStory()
    early.records[0] = at(early.records[0], "2026-01-01T09:00:00+00:00")
    late.records[0] = at(late.records[0], "2026-01-02T09:00:00+00:00")
    rows = project_stories(late, early)
    assert customer(rows)["last_order_at"] == "2026-01-02T09:00:00.000000+00:00"


def test_delivering_an_order_closes_it() -> None:
    rows = project_stories(OrderStory().pay().ship().deliver(), OrderStory())
    assert (customer(rows)["order_count"], customer(rows)["open_orders"]) == (2, 1)


def test_cancelling_an_order_closes_it() -> None:
    rows = project_stories(OrderStory().cancel())
    assert (customer(rows)["order_count"], customer(rows)["open_orders"]) == (1, 0)


def test_paid_and_shipped_orders_stay_open() -> None:
    rows = project_stories(OrderStory().pay(), OrderStory().pay().ship())
    assert customer(rows)["open_orders"] == 2


def test_paying_an_order_adds_to_the_customers_lifetime_value() -> None:
    rows = project_stories(OrderStory().pay(), OrderStory(lines=(("SKU-2", 1, "5.55"),)).pay())
    assert value(rows, "EUR") == {
        "customer_id": "customer-1",
        "currency": "EUR",
        "lifetime_value": Decimal("25.55"),
        "paid_orders": 2,
    }


def test_placing_an_order_adds_no_lifetime_value() -> None:
    assert value(project_stories(OrderStory().confirm()), "EUR") is None


def test_lifetime_value_is_kept_per_currency() -> None:
    rows = project_stories(
        OrderStory(currency="EUR").pay(),
        OrderStory(currency="JPY", lines=(("SKU-1", 1, "1200"),)).pay(),
    )
    assert (value(rows, "EUR")["lifetime_value"], value(rows, "JPY")["lifetime_value"]) == (
        Decimal("20.00"),
        Decimal("1200"),
    )


def test_cancelling_a_paid_order_takes_its_refund_off_the_lifetime_value() -> None:
    rows = project_stories(OrderStory().pay(), OrderStory(lines=(("SKU-2", 1, "7.00"),)).pay().cancel())
    assert (value(rows, "EUR")["lifetime_value"], value(rows, "EUR")["paid_orders"]) == (Decimal("20.00"), 1)


def test_a_currency_whose_only_payment_was_refunded_has_no_value_row() -> None:
    assert value(project_stories(OrderStory().pay().cancel()), "EUR") is None


def test_cancelling_an_unpaid_order_changes_no_lifetime_value() -> None:
    rows = project_stories(OrderStory().pay(), OrderStory().confirm().cancel())
    assert value(rows, "EUR")["lifetime_value"] == Decimal("20.00")


def test_an_event_for_an_order_never_placed_is_an_error() -> None:
    story = OrderStory().pay()
    with pytest.raises(CustomerOrdersStateError, match="never seen placed"):
        project(CustomerOrders(), story.records[-1:])


@settings(max_examples=50, deadline=None)
@given(choices=st.lists(st.integers(min_value=0, max_value=3), max_size=40))
def test_interleaving_the_orders_differently_gives_the_same_rows(choices: list[int]) -> None:
    stories = [
        OrderStory().pay().ship().deliver(),
        OrderStory(currency="GBP").pay().cancel(),
        OrderStory().confirm().cancel(),
        OrderStory(customer_id="customer-2").pay(),
    ]
    in_sequence = project_stories(*stories)
    merged = project(CustomerOrders(), interleave([s.records for s in stories], choices))
    assert merged.tables == in_sequence.tables
