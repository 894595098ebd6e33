"""Errors of the order domain.

Every broken business rule raises a subclass of :class:`OrderError` whose
message tells the caller what to do instead; the stock's rules raise
subclasses of :class:`StockError`, itself an :class:`OrderError`.
:class:`ConcurrencyError` is not a broken rule: it means a command kept
losing races on one order (or one SKU's stock).
"""

from __future__ import annotations


class OrderError(Exception):
    """A command broke one of the order's rules; nothing was recorded."""


class InvalidSkuError(OrderError):
    pass


class InvalidQuantityError(OrderError):
    pass


class InvalidMoneyError(OrderError):
    pass


class UnsupportedCurrencyError(OrderError):
    pass


class InvalidCustomerError(OrderError):
    pass


class InvalidChannelError(OrderError):
    """The sales channel is not one the shop knows."""


class InvalidAddressError(OrderError):
    pass


class TooManyLinesError(OrderError):
    pass


class DuplicateLineError(OrderError):
    pass


class LineNotFoundError(OrderError):
    pass


class EmptyOrderError(OrderError):
    pass


class InvalidTransitionError(OrderError):
    """The command is not allowed in the order's current status."""


class MissingShippingAddressError(OrderError):
    pass


class PaymentMismatchError(OrderError):
    """The payment's amount or currency differs from the order total."""


class PaymentReferenceConflictError(PaymentMismatchError):
    """The payment reference was recorded before with another amount or currency."""


class DuplicatePaymentError(OrderError):
    """A second, different payment for an order that is already paid."""


class InvalidPaymentReferenceError(OrderError):
    pass


class InvalidShipmentError(OrderError):
    pass


class IdempotencyKeyConflictError(OrderError):
    """The idempotency key was used before with a different payload."""


class InvalidIdempotencyKeyError(OrderError):
    """The idempotency key is empty or too long."""


class OrderNotFoundError(OrderError):
    pass


class StockError(OrderError):
    """A command broke one of the stock's rules; nothing was recorded.

    A kind of :class:`OrderError`, so that every broken domain rule is handled
    alike (the CLI's exit code 1).
    """


class InvalidStockQuantityError(StockError):
    """A restock or reservation quantity is not a whole number in range."""


class OutOfStockError(StockError):
    """Fewer units of a SKU are available than a reservation asks for."""

    def __init__(self, sku: str, available: int, requested: int) -> None:
        super().__init__(
            f"not enough {sku} in stock: {available} available, {requested} asked for; "
            f"restock {sku} or reserve fewer"
        )
        self.sku = sku
        self.available = available
        self.requested = requested

    def __reduce__(self) -> tuple[type[OutOfStockError], tuple[str, int, int]]:
        return (type(self), (self.sku, self.available, self.requested))


class ReservationConflictError(StockError):
    """The order already holds a reservation of the SKU, of another quantity."""


class ConcurrencyError(Exception):
    """Concurrent writers kept changing the order (or stock); the command was retried and gave up."""
