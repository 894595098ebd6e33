"""Column types for read models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

MONEY_SCALE = 3  # the largest minor unit of a supported currency (KWD)
_UNITS = Decimal(10) ** MONEY_SCALE


class Money(TypeDecorator[Decimal]):
    """Exact money: a Decimal stored as an integer count of 1/1000 units.

    Integers are exact and summable in every SQL database (SQLite has no
    decimal type); a value with more than three decimals is refused.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        exact = value if type(value) is Decimal else Decimal(value)
        if not exact.is_finite():
            raise ValueError(f"money value {value} is not a finite number")
        # An integer ratio n/1 is an exact count of thousandths (half the cost of
        # scaleb + to_integral_value; every row a rebuild writes converts two or three).
        count, denominator = (exact * _UNITS).as_integer_ratio()
        if denominator != 1:
            raise ValueError(f"money value {value} has more than {MONEY_SCALE} decimals")
        return count

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-MONEY_SCALE)
