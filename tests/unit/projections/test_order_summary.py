"""order_summary handlers: given real order events, the expected row."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from projections.order_summary import OrderSummary, OrderSummaryStateError
from projections.testing import project
from projections.values import timestamp
from tests.unit.projections.stories import OrderStory, at


def summary_of(story: OrderStory) -> dict:
    rows = project(OrderSummary(), story.records)
    [row] = rows.all(OrderSummary.orders)
    return row


def test_placing_an_order_creates_its_summary_row() -> None:
    story = OrderStory(
        customer_id="customer-7",
        lines=(("SKU-1", 2, "10.00"), ("SKU-2", 1, "4.50")),
        currency="GBP",
        channel="mobile",
    )
    assert summary_of(story) == {
        "order_id": story.order_id,
        "customer_id": "customer-7",
        "channel": "mobile",
        "currency": "GBP",
        "status": "placed",
        "line_count": 2,
        "total": Decimal("24.50"),
        "amount_paid": None,
        "refund_due": None,
        "placed_at": timestamp(story.records[0].occurred_at),
        "confirmed_at": None,
        "paid_at": None,
        "shipped_at": None,
        "delivered_at": None,
        "cancelled_at": None,
        "lines": '{"SKU-1":[2,"10.00"],"SKU-2":[1,"4.50"]}',
    }


def test_adding_a_line_raises_the_total_and_the_line_count() -> None:
    row = summary_of(OrderStory().add_line("SKU-9", 3, "1.25"))
    assert (row["line_count"], row["total"]) == (2, Decimal("23.75"))


def test_removing_a_line_lowers_the_total_and_the_line_count() -> None:
    story = OrderStory(lines=(("SKU-1", 2, "10.00"), ("SKU-2", 1, "4.50"))).remove_line("SKU-1")
    row = summary_of(story)
    assert (row["line_count"], row["total"], json.loads(row["lines"])) == (1, Decimal("4.50"), {"SKU-2": [1, "4.50"]})


def test_changing_a_quantity_adjusts_the_total() -> None:
    row = summary_of(OrderStory().change_quantity("SKU-1", 5))
    assert (row["total"], json.loads(row["lines"])) == (Decimal("50.00"), {"SKU-1": [5, "10.00"]})


def test_the_total_after_many_edits_equals_the_domain_total() -> None:
    story = (
        OrderStory(lines=(("SKU-1", 2, "10.00"), ("SKU-2", 1, "0.99")))
        .add_line("SKU-3", 7, "3.33")
        .change_quantity("SKU-2", 4)
        .remove_line("SKU-1")
        .add_line("SKU-1", 1, "12.00")
        .change_quantity("SKU-3", 2)
    )
    assert summary_of(story)["total"] == story.total


def test_confirming_records_the_status_and_confirmation_time() -> None:
    story = OrderStory().confirm()
    row = summary_of(story)
    assert (row["status"], row["confirmed_at"]) == ("confirmed", timestamp(story.last.occurred_at))


def test_setting_the_shipping_address_changes_nothing() -> None:
    story = OrderStory()
    before = summary_of(story)
    assert summary_of(story.set_shipping_address(city="Hamburg")) == before


def test_paying_records_the_amount_paid_and_the_payment_time() -> None:
    story = OrderStory().pay()
    row = summary_of(story)
    assert (row["status"], row["amount_paid"], row["paid_at"]) == (
        "paid",
        Decimal("20.00"),
        timestamp(story.last.occurred_at),
    )


def test_shipping_records_the_shipping_time() -> None:
    story = OrderStory().pay().ship()
    row = summary_of(story)
    assert (row["status"], row["shipped_at"]) == ("shipped", timestamp(story.last.occurred_at))


def test_delivering_records_the_delivery_time_and_keeps_earlier_steps() -> None:
    story = OrderStory().pay().ship().deliver()
    row = summary_of(story)
    assert row["status"] == "delivered"
    assert row["delivered_at"] == timestamp(story.last.occurred_at)
    assert row["placed_at"] <= row["confirmed_at"] <= row["paid_at"] <= row["shipped_at"] <= row["delivered_at"]


def test_cancelling_an_unpaid_order_records_no_refund() -> None:
    story = OrderStory().cancel()
    row = summary_of(story)
    assert (row["status"], row["refund_due"], row["cancelled_at"]) == (
        "cancelled",
        Decimal("0.00"),
        timestamp(story.last.occurred_at),
    )


def test_cancelling_a_paid_order_records_the_refund_due() -> None:
    row = summary_of(OrderStory().pay().cancel())
    assert (row["status"], row["amount_paid"], row["refund_due"]) == (
        "cancelled",
        Decimal("20.00"),
        Decimal("20.00"),
    )


def test_times_are_stored_as_fixed_width_utc_text() -> None:
    story = OrderStory()
    story.records[0] = at(story.records[0], "2026-03-01T10:00:00+02:00")
    assert summary_of(story)["placed_at"] == "2026-03-01T08:00:00.000000+00:00"


def test_each_order_has_its_own_row() -> None:
    first, second = OrderStory(customer_id="a"), OrderStory(customer_id="b").pay()
    rows = project(OrderSummary(), first.records + second.records)
    by_id = {row["order_id"]: row for row in rows.all(OrderSummary.orders)}
    assert {by_id[first.order_id]["status"], by_id[second.order_id]["status"]} == {"placed", "paid"}


def test_an_event_for_an_order_never_placed_is_an_error() -> None:
    story = OrderStory().confirm()
    with pytest.raises(OrderSummaryStateError, match="never seen placed"):
        project(OrderSummary(), story.records[1:])


def test_removing_a_line_that_is_not_on_the_order_is_an_error() -> None:
    other = OrderStory(lines=(("SKU-1", 1, "1.00"), ("SKU-5", 1, "1.00"))).remove_line("SKU-5")
    story = OrderStory()
    removal = other.last._replace(aggregate_id=story.order_id, aggregate_version=2)
    with pytest.raises(OrderSummaryStateError, match="SKU-5, which is not on the order"):
        project(OrderSummary(), [*story.records, removal])
