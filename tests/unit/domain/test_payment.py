"""Recording a payment: exactly the total, in the order's currency, once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import (
    DuplicatePaymentError,
    InvalidMoneyError,
    InvalidPaymentReferenceError,
    InvalidTransitionError,
    PaymentMismatchError,
    PaymentReferenceConflictError,
)
from domain.order import Order, OrderStatus
from domain.testing import given
from tests.unit.domain.histories import (
    CONFIRMED_ORDER,
    PAID_ORDER,
    TOTAL,
    cancelled,
    histories_except,
)


def pay(reference="pay-1", amount=TOTAL, currency="EUR"):
    return lambda order: order.record_payment(reference, amount, currency)


def test_paying_the_total_records_paid():
    given(*CONFIRMED_ORDER).when(pay(" pay-1 ", "20")).then(
        (Order.Paid, {"payment_reference": "pay-1", "amount": Decimal("20.00")})
    )


def test_a_paid_order_is_in_status_paid_with_the_amount_paid():
    order = given(*CONFIRMED_ORDER).when(pay()).state
    assert (order.status, order.amount_paid) == (OrderStatus.PAID, TOTAL)


@pytest.mark.parametrize("amount", ["19.99", "20.01", "40.00"])
def test_cannot_pay_other_than_the_exact_total(amount):
    given(*CONFIRMED_ORDER).when(pay(amount=amount)).then_error(
        PaymentMismatchError, match="pay exactly 20.00 EUR"
    )


def test_cannot_pay_in_another_currency():
    given(*CONFIRMED_ORDER).when(pay(currency="USD")).then_error(
        PaymentMismatchError, match="is in EUR, the payment is in USD"
    )


def test_cannot_pay_an_amount_more_precise_than_the_currency():
    given(*CONFIRMED_ORDER).when(pay(amount="20.001")).then_error(InvalidMoneyError)


@pytest.mark.parametrize("reference", ["", "   ", "r" * 65])
def test_cannot_pay_without_a_valid_payment_reference(reference):
    given(*CONFIRMED_ORDER).when(pay(reference=reference)).then_error(
        InvalidPaymentReferenceError, match="1-64 characters"
    )


def test_cannot_pay_an_order_before_it_is_confirmed():
    given(*CONFIRMED_ORDER[:2]).when(pay()).then_error(
        InvalidTransitionError, match="cannot record a payment: .* is placed, it must be confirmed"
    )


@pytest.mark.parametrize("history", histories_except("confirmed", "paid", "shipped", "delivered"))
def test_cannot_pay_unless_confirmed(history):
    given(*history).when(pay()).then_error(InvalidTransitionError)


def test_recording_the_same_payment_again_records_nothing():
    given(*PAID_ORDER).when(pay()).then_nothing()


def test_recording_the_same_payment_after_cancellation_records_nothing():
    given(*PAID_ORDER, cancelled(TOTAL)).when(pay()).then_nothing()


def test_recording_the_same_payment_again_with_an_equal_amount_written_otherwise_records_nothing():
    given(*PAID_ORDER).when(pay(amount="20", currency="eur")).then_nothing()


def test_the_same_reference_with_another_amount_is_refused():
    given(*PAID_ORDER).when(pay(amount="999.00")).then_error(
        PaymentReferenceConflictError, match="payment pay-1 was recorded on order .* as 20.00 EUR, not 999.00 EUR"
    )


def test_the_same_reference_with_another_currency_is_refused():
    given(*PAID_ORDER).when(pay(currency="USD")).then_error(
        PaymentReferenceConflictError, match="as 20.00 EUR, not 20.00 USD"
    )


def test_the_same_reference_with_another_amount_and_currency_is_refused():
    # The case from issue 16: 999.00 USD under the reference of a 20.00 EUR payment.
    given(*PAID_ORDER).when(pay(amount="999.00", currency="USD")).then_error(
        PaymentReferenceConflictError, match="a repeat must give the same amount and currency"
    )


def test_a_conflicting_repeat_is_a_payment_mismatch():
    given(*PAID_ORDER).when(pay(amount="1.00")).then_error(PaymentMismatchError)


def test_the_same_reference_with_another_amount_after_cancellation_is_refused():
    given(*PAID_ORDER, cancelled(TOTAL)).when(pay(amount="999.00")).then_error(PaymentReferenceConflictError)


def test_a_different_second_payment_is_refused():
    given(*PAID_ORDER).when(pay(reference="pay-2")).then_error(
        DuplicatePaymentError, match="refund payment pay-2 instead"
    )


def test_cannot_pay_an_amount_with_more_digits_than_a_decimal_holds():
    given(*CONFIRMED_ORDER).when(pay(amount="1e30")).then_error(InvalidMoneyError, match="too large")
