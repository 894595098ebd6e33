"""Adding, removing and changing lines: only while the order is placed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import (
    DuplicateLineError,
    InvalidMoneyError,
    InvalidQuantityError,
    InvalidSkuError,
    InvalidTransitionError,
    LineNotFoundError,
    TooManyLinesError,
)
from domain.money import MAX_LINES, MAX_QUANTITY
from domain.order import Order
from domain.testing import given, placed
from tests.unit.domain.histories import PLACED_ORDER, histories_except


def add_line(sku="SKU-2", quantity=1, price="5.00"):
    return lambda order: order.add_line(sku, quantity, price)


# ---- add_line -------------------------------------------------------------


def test_adding_a_line_records_line_added():
    given(*PLACED_ORDER).when(add_line("SKU-2", "3", "5")).then(
        (Order.LineAdded, {"sku": "SKU-2", "quantity": 3, "unit_price": Decimal("5.00")})
    )


def test_an_added_line_counts_in_the_total():
    order = given(*PLACED_ORDER).when(add_line("SKU-2", 3, "5.00")).state
    assert order.total == Decimal("35.00")


def test_cannot_add_a_line_for_a_sku_already_on_the_order():
    given(*PLACED_ORDER).when(add_line("SKU-1")).then_error(
        DuplicateLineError, match="change its quantity instead"
    )


def test_cannot_add_a_line_with_an_invalid_sku():
    given(*PLACED_ORDER).when(add_line("bad sku")).then_error(InvalidSkuError)


@pytest.mark.parametrize("quantity", [0, MAX_QUANTITY + 1, "x"])
def test_cannot_add_a_line_with_an_invalid_quantity(quantity):
    given(*PLACED_ORDER).when(add_line(quantity=quantity)).then_error(InvalidQuantityError)


def test_cannot_add_a_line_priced_more_precisely_than_the_currency():
    given(placed(currency="JPY", lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": Decimal("100")}])).when(
        add_line(price="1.50")
    ).then_error(InvalidMoneyError, match=r"JPY allows \(0\)")


def test_cannot_add_a_line_beyond_the_maximum_number_of_lines():
    full = [{"sku": f"SKU-{i}", "quantity": 1, "unit_price": Decimal("1.00")} for i in range(MAX_LINES)]
    given(placed(lines=full)).when(add_line("SKU-NEW")).then_error(
        TooManyLinesError, match=f"maximum of {MAX_LINES} lines"
    )


@pytest.mark.parametrize("history", histories_except("placed"))
def test_cannot_add_a_line_unless_placed(history):
    given(*history).when(add_line()).then_error(InvalidTransitionError, match="it must be placed")


# ---- remove_line ----------------------------------------------------------


def test_removing_a_line_records_line_removed():
    given(*PLACED_ORDER).when(lambda order: order.remove_line("SKU-1")).then(
        (Order.LineRemoved, {"sku": "SKU-1"})
    )


def test_a_removed_line_leaves_the_order():
    two_lines = placed(
        lines=[
            {"sku": "SKU-1", "quantity": 2, "unit_price": Decimal("10.00")},
            {"sku": "SKU-2", "quantity": 1, "unit_price": Decimal("5.00")},
        ]
    )
    order = given(two_lines).when(lambda order: order.remove_line("SKU-1")).state
    assert list(order.lines) == ["SKU-2"]
    assert order.total == Decimal("5.00")


def test_cannot_remove_a_line_that_is_not_on_the_order():
    given(*PLACED_ORDER).when(lambda order: order.remove_line("SKU-9")).then_error(
        LineNotFoundError, match="its lines are SKU-1"
    )


@pytest.mark.parametrize("history", histories_except("placed"))
def test_cannot_remove_a_line_unless_placed(history):
    given(*history).when(lambda order: order.remove_line("SKU-1")).then_error(
        InvalidTransitionError, match="it must be placed"
    )


# ---- change_quantity ------------------------------------------------------


def test_changing_a_quantity_records_quantity_changed():
    given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", "5")).then(
        (Order.QuantityChanged, {"sku": "SKU-1", "quantity": 5})
    )


def test_a_changed_quantity_counts_in_the_total():
    order = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5)).state
    assert order.total == Decimal("50.00")


def test_changing_a_quantity_to_what_it_is_records_nothing():
    given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 2)).then_nothing()


def test_cannot_change_the_quantity_of_a_line_that_is_not_on_the_order():
    given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-9", 1)).then_error(
        LineNotFoundError
    )


@pytest.mark.parametrize("quantity", [0, -2, MAX_QUANTITY + 1])
def test_cannot_change_a_quantity_out_of_bounds(quantity):
    given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", quantity)).then_error(
        InvalidQuantityError, match=f"between 1 and {MAX_QUANTITY}"
    )


@pytest.mark.parametrize("history", histories_except("placed"))
def test_cannot_change_a_quantity_unless_placed(history):
    given(*history).when(lambda order: order.change_quantity("SKU-1", 5)).then_error(
        InvalidTransitionError, match="it must be placed"
    )
