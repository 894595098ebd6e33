"""Errors of the order domain.

Every broken business rule raises a subclass of :class:`OrderError` whose
message tells the caller what to do instead. :class:`ConcurrencyError` is not a
broken rule: it means a command kept losing races on one order.
"""


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


class ConcurrencyError(Exception):
    """Concurrent writers kept changing the order; the command was retried and gave up."""
