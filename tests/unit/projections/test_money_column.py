"""The Money column type: exact thousandths as integers, refused when it cannot be exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from projections.columns import Money

MONEY = Money()


def test_an_amount_is_stored_as_its_count_of_thousandths():
    assert [MONEY.process_bind_param(v, None) for v in (Decimal("12.34"), "-0.001", 7)] == [12340, -1, 7000]


def test_no_amount_is_stored_as_null():
    assert MONEY.process_bind_param(None, None) is None


def test_a_stored_count_reads_back_as_the_same_amount():
    assert MONEY.process_result_value(MONEY.process_bind_param(Decimal("20.505"), None), None) == Decimal("20.505")


def test_an_amount_with_more_than_three_decimals_is_refused():
    with pytest.raises(ValueError, match="more than 3 decimals"):
        MONEY.process_bind_param(Decimal("0.0001"), None)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_an_amount_that_is_not_a_finite_number_is_refused(amount):
    with pytest.raises(ValueError, match="not a finite number"):
        MONEY.process_bind_param(Decimal(amount), None)
