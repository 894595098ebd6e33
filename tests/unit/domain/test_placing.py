"""Placing an order: what a new order may be made of."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import (
    DuplicateLineError,
    EmptyOrderError,
    IdempotencyKeyConflictError,
    InvalidChannelError,
    InvalidCustomerError,
    InvalidIdempotencyKeyError,
    InvalidMoneyError,
    InvalidQuantityError,
    InvalidSkuError,
    TooManyLinesError,
    UnsupportedCurrencyError,
)
from domain.money import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE
from domain.order import Order, OrderStatus, order_id_for_key
from domain.testing import given


def place(*lines, customer="customer-1", currency="EUR", **kwargs):
    return lambda _: Order.place(customer, list(lines) or [("SKU-1", 1, "9.99")], currency, **kwargs)


def test_placing_records_placed_with_the_checked_lines():
    given().when(place(("SKU-1", "2", "9.90"), ("BOOK-42", 1, Decimal("5")))).then(
        (
            Order.Placed,
            {
                "customer_id": "customer-1",
                "currency": "EUR",
                "channel": "web",
                "lines": [
                    {"sku": "SKU-1", "quantity": 2, "unit_price": Decimal("9.90")},
                    {"sku": "BOOK-42", "quantity": 1, "unit_price": Decimal("5.00")},
                ],
            },
        )
    )


def test_a_placed_order_is_in_status_placed():
    assert given().when(place()).state.status is OrderStatus.PLACED


def test_a_placed_order_totals_its_lines():
    order = given().when(place(("SKU-1", 3, "1.10"), ("SKU-2", 2, "0.45"))).state
    assert order.total == Decimal("4.20")


def test_placing_normalizes_the_currency_code():
    given().when(place(currency=" eur ")).then((Order.Placed, {"currency": "EUR"}))


def test_placing_strips_the_customer_id():
    given().when(place(customer="  customer-7 ")).then((Order.Placed, {"customer_id": "customer-7"}))


def test_placing_records_the_channel():
    given().when(place(channel="mobile")).then((Order.Placed, {"channel": "mobile"}))


def test_cannot_place_with_an_unknown_channel():
    given().when(place(channel="fax")).then_error(InvalidChannelError, match="use one of web")


@pytest.mark.parametrize("customer", ["", "   ", "c" * 65])
def test_cannot_place_without_a_valid_customer_id(customer):
    given().when(place(customer=customer)).then_error(InvalidCustomerError, match="1-64 characters")


def test_a_customer_id_of_64_characters_is_accepted():
    given().when(place(customer="c" * 64)).then(Order.Placed)


@pytest.mark.parametrize("currency", ["XXX", "", "euro", "BTC"])
def test_cannot_place_in_an_unsupported_currency(currency):
    given().when(place(currency=currency)).then_error(UnsupportedCurrencyError, match="use one of")


def test_cannot_place_an_order_without_lines():
    given().when(lambda _: Order.place("customer-1", [])).then_error(
        EmptyOrderError, match="at least one line"
    )


@pytest.mark.parametrize("sku", ["", "A", "sku-1", "-SKU", "SKU 1", "S" * 33, "SKU_1"])
def test_cannot_place_with_an_invalid_sku(sku):
    given().when(place((sku, 1, "1.00"))).then_error(InvalidSkuError, match="e.g. BOOK-42")


def test_a_sku_of_32_characters_is_accepted():
    given().when(place(("S" * 32, 1, "1.00"))).then(Order.Placed)


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_cannot_place_a_quantity_out_of_bounds(quantity):
    given().when(place(("SKU-1", quantity, "1.00"))).then_error(
        InvalidQuantityError, match=f"between 1 and {MAX_QUANTITY}"
    )


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_quantities_at_the_bounds_are_accepted(quantity):
    given().when(place(("SKU-1", quantity, "1.00"))).then(Order.Placed)


@pytest.mark.parametrize("quantity", ["two", "1.5", 2.0, ""])
def test_cannot_place_a_quantity_that_is_not_a_whole_number(quantity):
    given().when(place(("SKU-1", quantity, "1.00"))).then_error(
        InvalidQuantityError, match="not a whole number"
    )


@pytest.mark.parametrize(
    "currency, price",
    [("EUR", "1.001"), ("USD", "0.005"), ("JPY", "100.5"), ("KWD", "1.0005")],
)
def test_cannot_place_a_price_more_precise_than_the_currency(currency, price):
    given().when(place(("SKU-1", 1, price), currency=currency)).then_error(
        InvalidMoneyError, match="round it to the minor unit"
    )


@pytest.mark.parametrize(
    "currency, price, recorded",
    [("EUR", "1.5", Decimal("1.50")), ("JPY", "100", Decimal("100")), ("KWD", "1.005", Decimal("1.005"))],
)
def test_a_price_is_recorded_at_the_currencys_minor_unit(currency, price, recorded):
    then = given().when(place(("SKU-1", 1, price), currency=currency)).then(Order.Placed)
    assert then.events[0].lines[0]["unit_price"] == recorded
    assert then.events[0].lines[0]["unit_price"].as_tuple().exponent == recorded.as_tuple().exponent


def test_cannot_place_a_float_price():
    given().when(place(("SKU-1", 1, 9.99))).then_error(InvalidMoneyError, match="not a float")


@pytest.mark.parametrize("price", ["abc", "", "NaN", "Infinity"])
def test_cannot_place_a_price_that_is_not_a_number(price):
    given().when(place(("SKU-1", 1, price))).then_error(InvalidMoneyError, match="like 12.50")


@pytest.mark.parametrize("price", ["0", "0.00", "-1.00"])
def test_cannot_place_a_price_of_zero_or_less(price):
    given().when(place(("SKU-1", 1, price))).then_error(InvalidMoneyError, match="greater than zero")


def test_cannot_place_a_price_above_the_limit():
    too_much = MAX_UNIT_PRICE + Decimal("0.01")
    given().when(place(("SKU-1", 1, too_much))).then_error(InvalidMoneyError, match="above the limit")


def test_a_price_at_the_limit_is_accepted():
    given().when(place(("SKU-1", 1, MAX_UNIT_PRICE))).then(Order.Placed)


def test_cannot_place_more_than_the_maximum_number_of_lines():
    lines = [(f"SKU-{i}", 1, "1.00") for i in range(MAX_LINES + 1)]
    given().when(place(*lines)).then_error(TooManyLinesError, match=f"at most {MAX_LINES} lines")


def test_the_maximum_number_of_lines_is_accepted():
    lines = [(f"SKU-{i}", 1, "1.00") for i in range(MAX_LINES)]
    given().when(place(*lines)).then(Order.Placed)


def test_cannot_place_the_same_sku_twice():
    given().when(place(("SKU-1", 1, "1.00"), ("SKU-1", 2, "1.00"))).then_error(
        DuplicateLineError, match="give it once with the total quantity"
    )


def test_an_idempotency_key_decides_the_order_id():
    order = given().when(place(idempotency_key="key-1")).state
    assert order.id == order_id_for_key("key-1")


def test_without_an_idempotency_key_each_order_gets_a_new_id():
    first = given().when(place()).state
    second = given().when(place()).state
    assert first.id != second.id


@pytest.mark.parametrize("key", ["", "k" * 129])
def test_cannot_place_with_an_idempotency_key_of_bad_length(key):
    given().when(place(idempotency_key=key)).then_error(InvalidIdempotencyKeyError, match="1-128")


def test_a_retried_placement_with_the_same_payload_is_accepted():
    order = given().when(place(("SKU-1", 2, "10.00"), idempotency_key="key-1")).state
    order.check_same_placement("customer-1", [("SKU-1", "2", "10.0")], "eur", "web")


def test_a_placement_with_the_same_key_and_another_payload_is_refused():
    order = given().when(place(("SKU-1", 2, "10.00"), idempotency_key="key-1")).state
    with pytest.raises(IdempotencyKeyConflictError, match="use a new key for a new order"):
        order.check_same_placement("customer-1", [("SKU-1", 3, "10.00")], "EUR", "web")


def test_cannot_place_a_price_with_more_digits_than_a_decimal_holds():
    given().when(place(("SKU-1", 1, "1e40"))).then_error(InvalidMoneyError, match="too large")
