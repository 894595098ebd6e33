"""Column types for read models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

MONEY_SCALE = 3  # the largest minor unit of a supported currency (KWD)


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
        scaled = Decimal(value).scaleb(MONEY_SCALE)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"money value {value} has more than {MONEY_SCALE} decimals")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-MONEY_SCALE)
