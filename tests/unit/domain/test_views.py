"""The order view handed to callers is a snapshot that cannot be changed."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from domain.testing import given
from domain.views import OrderView
from tests.unit.domain.histories import PAID_ORDER


@pytest.fixture
def view() -> OrderView:
    return OrderView.of(given(*PAID_ORDER).replay())


def test_an_order_view_cannot_be_assigned_to(view):
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = "cancelled"


def test_the_shipping_address_of_a_view_cannot_be_changed(view):
    with pytest.raises(TypeError):
        view.shipping_address["city"] = "Paris"


def test_a_view_lists_lines_with_their_subtotals(view):
    assert [(ln.sku, ln.subtotal) for ln in view.lines] == [("SKU-1", Decimal("20.00"))]


def test_a_view_shows_what_was_paid(view):
    assert (view.version, view.payment_reference, view.amount_paid) == (4, "pay-1", Decimal("20.00"))
