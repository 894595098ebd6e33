"""The CLI's --line syntax and its JSON rendering, without a store."""

from __future__ import annotations

import json
from decimal import Decimal

import click
import pytest

from adapters.cli.orders import parse_line
from adapters.cli.output import order_json
from domain.testing import given
from domain.views import OrderView
from tests.unit.domain.histories import ADDRESS, PAID_ORDER


def test_a_line_is_sku_quantity_and_price():
    assert parse_line(" BOOK-42 : 2 : 19.90 ") == ("BOOK-42", "2", "19.90")


@pytest.mark.parametrize("spec", ["BOOK-42", "BOOK-42:2", "BOOK-42:2:1:1", "BOOK-42::1.00", ":2:1.00"])
def test_a_line_without_three_parts_is_a_usage_error(spec):
    with pytest.raises(click.BadParameter, match="is not SKU:QTY:PRICE"):
        parse_line(spec)


def test_the_json_of_an_order_is_plain_values():
    view = OrderView.of(given(*PAID_ORDER).replay())
    data = json.loads(json.dumps(order_json(view)))
    assert (data["status"], data["total"], data["lines"]) == (
        "paid",
        "20.00",
        [{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00", "subtotal": str(Decimal("20.00"))}],
    )


def test_the_json_of_an_order_includes_its_shipping_address():
    # The view holds the address as a read-only mapping; rendering must not try to copy it.
    view = OrderView.of(given(*PAID_ORDER).replay())
    assert order_json(view)["shipping_address"] == ADDRESS
