"""The shipping address: validated, settable until payment, needed to confirm."""

from __future__ import annotations

import pytest

from domain.errors import InvalidAddressError, InvalidTransitionError
from domain.order import Order
from domain.testing import given
from tests.unit.domain.histories import (
    ADDRESS,
    CONFIRMED_ORDER,
    PLACED_ORDER,
    histories_except,
)


def set_address(**changes):
    address = {**ADDRESS, **changes}
    address = {k: v for k, v in address.items() if v is not None}
    return lambda order: order.set_shipping_address(address)


def test_setting_the_address_records_shipping_address_set():
    given(*PLACED_ORDER).when(set_address()).then((Order.ShippingAddressSet, {"address": ADDRESS}))


def test_the_address_can_change_after_confirmation():
    given(*CONFIRMED_ORDER).when(set_address(city="Hamburg")).then(
        (Order.ShippingAddressSet, {"address": {**ADDRESS, "city": "Hamburg"}})
    )


def test_the_address_fields_are_stripped_and_the_country_upper_cased():
    order = given(*PLACED_ORDER).when(set_address(city="  Berlin ", country="de")).state
    assert order.shipping_address == ADDRESS


@pytest.mark.parametrize("field", ["name", "street", "city", "postal_code", "country"])
def test_cannot_set_an_address_without_a_required_field(field):
    given(*PLACED_ORDER).when(set_address(**{field: None})).then_error(
        InvalidAddressError, match=f"missing {field}"
    )


def test_cannot_set_an_address_with_a_blank_field():
    given(*PLACED_ORDER).when(set_address(street="   ")).then_error(InvalidAddressError, match="missing street")


def test_cannot_set_an_address_with_unknown_fields():
    given(*PLACED_ORDER).when(set_address(floor="3")).then_error(
        InvalidAddressError, match="unknown fields floor"
    )


def test_cannot_set_an_address_with_a_field_over_200_characters():
    given(*PLACED_ORDER).when(set_address(street="x" * 201)).then_error(
        InvalidAddressError, match="at most 200"
    )


@pytest.mark.parametrize("country", ["Germany", "D", "D1"])
def test_cannot_set_an_address_without_a_two_letter_country_code(country):
    given(*PLACED_ORDER).when(set_address(country=country)).then_error(
        InvalidAddressError, match="two-letter ISO code"
    )


@pytest.mark.parametrize("history", histories_except("placed", "confirmed"))
def test_cannot_change_the_address_after_payment(history):
    given(*history).when(set_address()).then_error(InvalidTransitionError, match="before payment")
