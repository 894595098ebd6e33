"""product_sales handlers: given real order events, the expected rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.product_sales import ProductSales, ProductSalesStateError
from projections.testing import InMemoryRows, project
from tests.unit.projections.stories import OrderStory, interleave

TWO_LINES = (("SKU-1", 2, "10.00"), ("SKU-2", 1, "4.50"))


def project_stories(*stories: OrderStory) -> InMemoryRows:
    return project(ProductSales(), [r for story in stories for r in story.records])


def units(rows: InMemoryRows, sku: str) -> tuple[int, int, int] | None:
    """(units ordered, units paid, units cancelled) of ``sku``, or None without a row."""
    row = rows.get(ProductSales.products, sku)
    return None if row is None else (row["units_ordered"], row["units_paid"], row["units_cancelled"])


def revenue(rows: InMemoryRows, sku: str, currency: str = "EUR") -> Decimal | None:
    row = rows.get(ProductSales.revenue, sku, currency)
    return None if row is None else row["revenue"]


def test_placing_an_order_counts_its_units_as_ordered() -> None:
    rows = project_stories(OrderStory(lines=TWO_LINES))
    assert (units(rows, "SKU-1"), units(rows, "SKU-2")) == ((2, 0, 0), (1, 0, 0))


def test_units_ordered_add_up_over_orders() -> None:
    rows = project_stories(OrderStory(), OrderStory(customer_id="other"), OrderStory(currency="USD"))
    assert units(rows, "SKU-1") == (6, 0, 0)


def test_adding_a_line_counts_its_units_as_ordered() -> None:
    assert units(project_stories(OrderStory().add_line("SKU-3", 4, "1.00")), "SKU-3") == (4, 0, 0)


def test_removing_a_line_takes_its_units_off_units_ordered() -> None:
    rows = project_stories(OrderStory(), OrderStory(lines=TWO_LINES).remove_line("SKU-1"))
    assert units(rows, "SKU-1") == (2, 0, 0)


def test_a_sku_whose_units_are_all_removed_has_no_row() -> None:
    assert units(project_stories(OrderStory(lines=TWO_LINES).remove_line("SKU-2")), "SKU-2") is None


def test_changing_a_quantity_adjusts_units_ordered() -> None:
    rows = project_stories(OrderStory().change_quantity("SKU-1", 7), OrderStory().change_quantity("SKU-1", 1))
    assert units(rows, "SKU-1") == (8, 0, 0)


def test_paying_counts_the_lines_at_payment_as_units_paid_and_revenue() -> None:
    story = OrderStory(lines=TWO_LINES).add_line("SKU-3", 1, "0.50").change_quantity("SKU-1", 3).pay()
    rows = project_stories(story)
    assert [units(rows, s) for s in ("SKU-1", "SKU-2", "SKU-3")] == [(3, 3, 0), (1, 1, 0), (1, 1, 0)]
    assert [revenue(rows, s) for s in ("SKU-1", "SKU-2", "SKU-3")] == [
        Decimal("30.00"),
        Decimal("4.50"),
        Decimal("0.50"),
    ]


def test_revenue_over_all_skus_equals_the_amount_paid() -> None:
    story = OrderStory(lines=TWO_LINES).add_line("SKU-3", 3, "0.99").pay()
    rows = project_stories(story)
    paid = Decimal(story.last.data["amount"])
    assert sum(r["revenue"] for r in rows.all(ProductSales.revenue)) == paid


def test_revenue_is_kept_per_currency() -> None:
    rows = project_stories(OrderStory(currency="EUR").pay(), OrderStory(currency="USD").pay())
    assert (revenue(rows, "SKU-1", "EUR"), revenue(rows, "SKU-1", "USD")) == (Decimal("20.00"), Decimal("20.00"))


def test_units_paid_are_counted_over_currencies() -> None:
    rows = project_stories(OrderStory(currency="EUR").pay(), OrderStory(currency="USD").pay())
    assert units(rows, "SKU-1") == (4, 4, 0)


def test_shipping_and_delivering_change_no_figures() -> None:
    story = OrderStory().pay()
    paid = project_stories(story)
    delivered = project_stories(story.ship().deliver())
    assert (delivered.tables["product_sales"], delivered.tables["product_sales_revenue"]) == (
        paid.tables["product_sales"],
        paid.tables["product_sales_revenue"],
    )


def test_cancelling_an_unpaid_order_moves_its_units_to_cancelled() -> None:
    rows = project_stories(OrderStory(), OrderStory().confirm().cancel())
    assert units(rows, "SKU-1") == (2, 0, 2)


def test_cancelling_a_paid_order_refunds_its_units_paid_and_revenue() -> None:
    rows = project_stories(OrderStory().pay(), OrderStory().pay().cancel())
    assert (units(rows, "SKU-1"), revenue(rows, "SKU-1")) == ((2, 2, 2), Decimal("20.00"))


def test_a_currency_whose_only_payment_was_refunded_has_no_revenue_row() -> None:
    assert revenue(project_stories(OrderStory().pay().cancel()), "SKU-1") is None


def test_a_line_event_for_a_sku_not_on_the_order_is_an_error() -> None:
    other = OrderStory(lines=TWO_LINES).change_quantity("SKU-2", 9)
    story = OrderStory()
    change = other.last._replace(aggregate_id=story.order_id, aggregate_version=2)
    with pytest.raises(ProductSalesStateError, match="SKU-2, which is not on the order"):
        project(ProductSales(), [*story.records, change])


def test_an_event_for_an_order_never_placed_is_an_error() -> None:
    story = OrderStory().pay()
    with pytest.raises(ProductSalesStateError, match="never seen placed"):
        project(ProductSales(), story.records[-1:])


@settings(max_examples=50, deadline=None)
@given(choices=st.lists(st.integers(min_value=0, max_value=3), max_size=40))
def test_interleaving_the_orders_differently_gives_the_same_rows(choices: list[int]) -> None:
    stories = [
        OrderStory(lines=TWO_LINES).change_quantity("SKU-2", 3).pay().ship(),
        OrderStory(currency="GBP").add_line("SKU-2", 1, "3.00").pay().cancel(),
        OrderStory(lines=TWO_LINES).remove_line("SKU-1").cancel(),
        OrderStory().pay(),
    ]
    in_sequence = project_stories(*stories)
    merged = project(ProductSales(), interleave([s.records for s in stories], choices))
    assert merged.tables == in_sequence.tables
