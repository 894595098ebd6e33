"""Query functions of the built-in read models, against a real SQLite database.

Rows are produced by the projections' own handlers from real order events
(``projections.testing.project``), written to tables created from each
projection's MetaData, and read back through the query functions: money
comes back exact, times come back aware, rankings and sums are right.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine

from projections import BUILT_IN
from projections.customer_orders import (
    get_customer_orders,
    lifetime_value_by_currency,
    top_customers,
)
from projections.order_summary import (
    get_order_summary,
    orders_by_status,
    recent_orders,
    revenue_by_currency,
)
from projections.product_sales import (
    get_product_sales,
    sales_currencies,
    top_products,
)
from projections.product_sales import (
    revenue_by_currency as product_revenue_by_currency,
)
from tests.local.read_model_rows import load, placed_at
from tests.unit.projections.stories import OrderStory


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    engine = create_engine(f"sqlite:///{tmp_path / 'read_models.db'}")
    for projection in BUILT_IN:
        projection.metadata.create_all(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


# ---- order_summary ------------------------------------------------------


def test_an_order_summary_reads_back_with_exact_money_and_aware_times(conn: Connection) -> None:
    story = placed_at(
        OrderStory(customer_id="c-1", lines=(("SKU-1", 3, "0.10"), ("SKU-2", 1, "19.99"))),
        "2026-05-01T12:00:00+00:00",
    )
    load(conn, story)
    summary = get_order_summary(conn, story.order_id)
    assert summary is not None
    assert (summary.customer_id, summary.status, summary.line_count, summary.total, summary.currency) == (
        "c-1", "placed", 2, Decimal("20.29"), "EUR",
    )
    assert summary.placed_at == datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in summary.lines] == [
        ("SKU-1", 3, Decimal("0.10")),
        ("SKU-2", 1, Decimal("19.99")),
    ]


def test_an_unknown_order_has_no_summary(conn: Connection) -> None:
    load(conn, OrderStory())
    assert get_order_summary(conn, "00000000-0000-0000-0000-000000000000") is None


def test_orders_by_status_counts_every_status_including_zeros(conn: Connection) -> None:
    load(conn, OrderStory(), OrderStory(), OrderStory().pay(), OrderStory().cancel())
    assert orders_by_status(conn) == {
        "placed": 2, "confirmed": 0, "paid": 1, "shipped": 0, "delivered": 0, "cancelled": 1,
    }


def test_revenue_by_currency_counts_paid_shipped_and_delivered_orders_only(conn: Connection) -> None:
    load(
        conn,
        OrderStory().pay(),
        OrderStory().pay().ship(),
        OrderStory(lines=(("SKU-1", 1, "5.00"),), currency="USD").pay().ship().deliver(),
        OrderStory().pay().cancel(),
        OrderStory().confirm(),
    )
    assert revenue_by_currency(conn) == {"EUR": Decimal("40.00"), "USD": Decimal("5.00")}


def test_recent_orders_are_the_newest_placements_first(conn: Connection) -> None:
    stories = [placed_at(OrderStory(), f"2026-05-0{day}T08:00:00+00:00") for day in (3, 1, 4, 2)]
    load(conn, *stories)
    newest = recent_orders(conn, limit=2)
    assert [s.placed_at.day for s in newest] == [4, 3]


# ---- customer_orders ----------------------------------------------------


def test_a_customer_reads_back_with_lifetime_value_per_currency(conn: Connection) -> None:
    load(
        conn,
        placed_at(OrderStory(customer_id="c-1").pay(), "2026-05-01T08:00:00+00:00"),
        placed_at(OrderStory(customer_id="c-1", currency="JPY", lines=(("SKU-1", 2, "1500"),)).pay(),
                  "2026-05-02T08:00:00+00:00"),
        placed_at(OrderStory(customer_id="c-1"), "2026-05-03T08:00:00+00:00"),
    )
    customer = get_customer_orders(conn, "c-1")
    assert customer is not None
    assert (customer.order_count, customer.open_orders, customer.paid_orders) == (3, 3, 2)
    assert customer.lifetime_value == {"EUR": Decimal("20.00"), "JPY": Decimal("3000")}
    assert customer.last_order_at == datetime(2026, 5, 3, 8, tzinfo=timezone.utc)


def test_an_unknown_customer_has_no_row(conn: Connection) -> None:
    load(conn, OrderStory(customer_id="c-1"))
    assert get_customer_orders(conn, "nobody") is None


def test_top_customers_by_orders_ranks_by_order_count(conn: Connection) -> None:
    load(conn, OrderStory(customer_id="a"), OrderStory(customer_id="b"), OrderStory(customer_id="b"))
    assert [(c.customer_id, c.order_count) for c in top_customers(conn, by="orders")] == [("b", 2), ("a", 1)]


def test_top_customers_by_value_ranks_within_one_currency(conn: Connection) -> None:
    load(
        conn,
        OrderStory(customer_id="a", lines=(("SKU-1", 1, "50.00"),)).pay(),
        OrderStory(customer_id="b", lines=(("SKU-1", 1, "10.00"),)).pay(),
        OrderStory(customer_id="c", lines=(("SKU-1", 1, "99.00"),), currency="USD").pay(),
    )
    ranked = top_customers(conn, by="value", currency="EUR")
    assert [(c.customer_id, c.lifetime_value["EUR"]) for c in ranked] == [
        ("a", Decimal("50.00")),
        ("b", Decimal("10.00")),
    ]


def test_ranking_customers_by_value_needs_a_currency(conn: Connection) -> None:
    with pytest.raises(ValueError, match="needs a currency"):
        top_customers(conn, by="value")


def test_lifetime_value_by_currency_sums_every_customer(conn: Connection) -> None:
    load(conn, OrderStory(customer_id="a").pay(), OrderStory(customer_id="b").pay().ship())
    assert lifetime_value_by_currency(conn) == {"EUR": Decimal("40.00")}


# ---- product_sales ------------------------------------------------------


def test_a_product_reads_back_with_units_and_revenue_per_currency(conn: Connection) -> None:
    load(conn, OrderStory().pay(), OrderStory(currency="USD").pay(), OrderStory().cancel())
    product = get_product_sales(conn, "SKU-1")
    assert product is not None
    assert (product.units_ordered, product.units_paid, product.units_cancelled) == (4, 4, 2)
    assert product.revenue == {"EUR": Decimal("20.00"), "USD": Decimal("20.00")}


def test_top_products_by_units_ranks_by_units_paid(conn: Connection) -> None:
    load(
        conn,
        OrderStory(lines=(("SKU-1", 1, "1.00"), ("SKU-2", 5, "1.00"))).pay(),
        OrderStory(lines=(("SKU-3", 9, "1.00"),)),  # ordered, never paid
    )
    assert [(p.sku, p.units_paid) for p in top_products(conn, by="units", limit=2)] == [
        ("SKU-2", 5),
        ("SKU-1", 1),
    ]


def test_top_products_by_revenue_ranks_within_one_currency(conn: Connection) -> None:
    load(
        conn,
        OrderStory(lines=(("SKU-1", 1, "30.00"), ("SKU-2", 1, "45.00"))).pay(),
        OrderStory(lines=(("SKU-3", 1, "999.00"),), currency="GBP").pay(),
    )
    ranked = top_products(conn, by="revenue", currency="EUR")
    assert [(p.sku, p.revenue["EUR"]) for p in ranked] == [("SKU-2", Decimal("45.00")), ("SKU-1", Decimal("30.00"))]


def test_ranking_products_by_revenue_needs_a_currency(conn: Connection) -> None:
    with pytest.raises(ValueError, match="needs a currency"):
        top_products(conn, by="revenue")


def test_sales_currencies_lists_the_currencies_with_revenue(conn: Connection) -> None:
    load(conn, OrderStory(currency="USD").pay(), OrderStory(currency="GBP").pay(), OrderStory(currency="CHF"))
    assert sales_currencies(conn) == ["GBP", "USD"]


def test_the_three_read_models_agree_on_revenue_per_currency(conn: Connection) -> None:
    load(
        conn,
        OrderStory(lines=(("SKU-1", 2, "3.33"), ("SKU-2", 1, "0.01"))).add_line("SKU-3", 4, "2.50").pay(),
        OrderStory(currency="GBP").change_quantity("SKU-1", 3).pay().ship().deliver(),
        OrderStory().pay().cancel(),
        OrderStory(customer_id="c-2").pay(),
    )
    expected = {"EUR": Decimal("36.67"), "GBP": Decimal("30.00")}
    assert (revenue_by_currency(conn), lifetime_value_by_currency(conn), product_revenue_by_currency(conn)) == (
        expected, expected, expected,
    )
