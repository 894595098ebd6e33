"""The Stock aggregate: the units of one SKU on hand and reserved for orders.

One aggregate per SKU, its id derived from the SKU (:func:`stock_id_for`), so
the stock of a SKU is found without an index. A stock is created by its
first restock. Units are reserved per order id, and every command is
idempotent by order id, so that a reactor repeating a command after a crash
changes nothing:

- ``reserve`` again with the same quantity records nothing (another quantity
  is a :class:`ReservationConflictError`);
- ``release`` and ``ship`` of an order that holds no reservation record
  nothing.

As in ``Order``, rules are checked in the public command methods and the
``@event`` bodies only assign state; every event has a stable topic.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    InvalidStockQuantityError,
    OutOfStockError,
    ReservationConflictError,
)
from domain.money import check_sku

# Namespace of the stock ids derived from SKUs; never change it.
STOCK_NAMESPACE = UUID("3d0f7a52-8c1e-4b6a-9f25-1e7c4a9b0d63")
MAX_RESTOCK = 1_000_000
MAX_ON_HAND = 1_000_000_000


def stock_id_for(sku: str) -> UUID:
    """The id of the stock of ``sku`` (a valid SKU, or ``InvalidSkuError``)."""
    return uuid5(STOCK_NAMESPACE, check_sku(sku))


class Stock(Aggregate):
    """The stock of one SKU: on hand, and the reservations held per order id.

    ``available`` is on hand minus reserved; a reservation never takes more
    than is available, so available is never negative.
    """

    TOPIC = "Stock"

    class Created(Aggregate.Created):
        TOPIC = "Stock.Created"
        sku: str

    class Restocked(Aggregate.Event):
        TOPIC = "Stock.Restocked"
        quantity: int

    class Reserved(Aggregate.Event):
        TOPIC = "Stock.Reserved"
        order_id: UUID
        quantity: int

    class Released(Aggregate.Event):
        TOPIC = "Stock.Released"
        order_id: UUID
        quantity: int

    class Shipped(Aggregate.Event):
        TOPIC = "Stock.Shipped"
        order_id: UUID
        quantity: int

    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.on_hand = 0
        self.reservations: dict[UUID, int] = {}

    @classmethod
    def create(cls, sku: str) -> Stock:
        """A new, empty stock of ``sku`` (saved with its first restock)."""
        sku = check_sku(sku)
        return cls._create(cls.Created, id=stock_id_for(sku), sku=sku)

    # ---- derived values -------------------------------------------------

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    # ---- commands -------------------------------------------------------

    def restock(self, quantity: int | str) -> None:
        """Add ``quantity`` units on hand (1 to ``MAX_RESTOCK`` at a time)."""
        quantity = check_stock_quantity(quantity, "restock quantity", MAX_RESTOCK)
        if self.on_hand + quantity > MAX_ON_HAND:
            raise InvalidStockQuantityError(
                f"restocking {quantity} would bring {self.sku} to {self.on_hand + quantity} on hand, "
                f"above the limit of {MAX_ON_HAND}"
            )
        self._restock(quantity=quantity)

    @event(Restocked)
    def _restock(self, quantity: int) -> None:
        self.on_hand += quantity

    def reserve(self, order_id: UUID, quantity: int | str) -> None:
        """Reserve ``quantity`` units for the order; the same reservation again records nothing."""
        quantity = check_stock_quantity(quantity, "reserved quantity", MAX_ON_HAND)
        held = self.reservations.get(order_id)
        if held == quantity:
            return  # already reserved (a retry): nothing happened, nothing to record
        if held is not None:
            raise ReservationConflictError(
                f"order {order_id} already holds {held} of {self.sku}; "
                f"release it before reserving {quantity}"
            )
        if quantity > self.available:
            raise OutOfStockError(self.sku, self.available, quantity)
        self._reserve(order_id=order_id, quantity=quantity)

    @event(Reserved)
    def _reserve(self, order_id: UUID, quantity: int) -> None:
        self.reservations[order_id] = quantity

    def release(self, order_id: UUID) -> None:
        """Give the order's reserved units back; no reservation, nothing recorded."""
        held = self.reservations.get(order_id)
        if held is None:
            return
        self._release(order_id=order_id, quantity=held)

    @event(Released)
    def _release(self, order_id: UUID, quantity: int) -> None:
        del self.reservations[order_id]

    def ship(self, order_id: UUID) -> None:
        """The order's reservation leaves as a shipment: on hand and reserved both drop by it.

        No reservation, nothing recorded.
        """
        held = self.reservations.get(order_id)
        if held is None:
            return
        self._ship(order_id=order_id, quantity=held)

    @event(Shipped)
    def _ship(self, order_id: UUID, quantity: int) -> None:
        del self.reservations[order_id]
        self.on_hand -= quantity


def check_stock_quantity(value: int | str, what: str, maximum: int) -> int:
    """``value`` as a whole number from 1 to ``maximum``."""
    try:
        quantity = int(str(value).strip())
    except ValueError:
        raise InvalidStockQuantityError(f"{what} {value!r} is not a whole number") from None
    if not 1 <= quantity <= maximum:
        raise InvalidStockQuantityError(f"{what} must be between 1 and {maximum}, got {quantity}")
    return quantity
