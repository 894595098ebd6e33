"""The reactor test kit fails when the effects differ from the expected ones."""

from __future__ import annotations

import pytest

from domain.order import Order
from domain.testing import placed
from reactors.builtin.payment import PaymentReactor
from reactors.contract import Email, PaymentCapture
from reactors.testing import reacting


def confirmed():
    return reacting(PaymentReactor).given(placed()).when(Order.Confirmed)


def test_a_missing_effect_fails():
    with pytest.raises(AssertionError, match="expected 0 effects"):
        confirmed().then_nothing()


def test_an_effect_of_another_kind_fails():
    with pytest.raises(AssertionError, match="expected a Email"):
        confirmed().then(Email)


def test_an_attribute_that_differs_fails():
    with pytest.raises(AssertionError, match="PaymentCapture.order_id"):
        confirmed().then((PaymentCapture, {"order_id": "another"}))


def test_a_whole_effect_that_differs_fails():
    with pytest.raises(AssertionError, match="expected PaymentCapture"):
        confirmed().then(PaymentCapture(order_id="another"))
