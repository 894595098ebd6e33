"""Money and the rules for the values an order is made of.

Money is always :class:`~decimal.Decimal`, quantized to the currency's minor
unit; a value with more precision than the currency allows is refused, never
rounded silently.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from domain.errors import (
    InvalidMoneyError,
    InvalidQuantityError,
    InvalidSkuError,
    UnsupportedCurrencyError,
)

# ISO 4217 minor units of the currencies orderstream accepts.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "DKK": 2,
    "PLN": 2,
    "JPY": 0,
    "KWD": 3,
}

MAX_QUANTITY = 999
MAX_LINES = 50
MAX_UNIT_PRICE = Decimal("1000000")
SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


def check_currency(currency: str) -> str:
    code = str(currency).strip().upper()
    if code not in MINOR_UNITS:
        supported = ", ".join(sorted(MINOR_UNITS))
        raise UnsupportedCurrencyError(
            f"currency {currency!r} is not supported; use one of {supported}"
        )
    return code


def to_money(value: Decimal | str | int, currency: str, *, what: str = "amount") -> Decimal:
    """Parse ``value`` as an amount in ``currency``, exact to its minor unit."""
    if isinstance(value, float):
        raise InvalidMoneyError(f"{what} must be a decimal string, not a float: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidMoneyError(f"{what} {value!r} is not a number; write it like 12.50") from None
    if not amount.is_finite():
        raise InvalidMoneyError(f"{what} {value!r} is not a finite number; write it like 12.50")
    exponent = Decimal(1).scaleb(-MINOR_UNITS[currency])
    try:
        quantized = amount.quantize(exponent)
    except InvalidOperation:  # more digits than the decimal context holds, e.g. 1e40
        raise InvalidMoneyError(f"{what} {value} is too large; write it like 12.50") from None
    if quantized != amount:
        raise InvalidMoneyError(
            f"{what} {value} has more decimals than {currency} allows "
            f"({MINOR_UNITS[currency]}); round it to the minor unit"
        )
    return quantized


def check_unit_price(value: Decimal | str | int, currency: str) -> Decimal:
    price = to_money(value, currency, what="unit price")
    if price <= 0:
        raise InvalidMoneyError(f"unit price must be greater than zero, got {price}")
    if price > MAX_UNIT_PRICE:
        raise InvalidMoneyError(f"unit price {price} is above the limit of {MAX_UNIT_PRICE}")
    return price


def check_quantity(value: int | str) -> int:
    try:
        quantity = int(str(value).strip())
    except ValueError:
        raise InvalidQuantityError(f"quantity {value!r} is not a whole number") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantityError(
            f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}"
        )
    return quantity


def check_sku(value: str) -> str:
    sku = str(value).strip()
    if not SKU_PATTERN.match(sku):
        raise InvalidSkuError(
            f"SKU {value!r} is invalid; use 2-32 characters of A-Z, 0-9 and '-', "
            "starting with a letter or digit (e.g. BOOK-42)"
        )
    return sku
