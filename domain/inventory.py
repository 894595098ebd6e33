"""The inventory domain API: the ``Inventory`` application, one ``Stock`` per SKU.

``Inventory`` is an eventsourcing application of its own, named "Inventory":
its events live in tables of their own (see ``adapters.eventstore.wiring``)
and never reach the Orders notification log that the relay publishes.

Each call on one SKU is one load, one aggregate call, one save, in the same
bounded optimistic retry as ``Orders`` (``domain.retry``): of two writers on
one SKU's stock only one wins a save, the other's command is re-run on the
fresh state, so two orders never both get the last unit.

Calls for an order's lines (:meth:`Inventory.reserve_for_order`,
:meth:`~Inventory.release_order`, :meth:`~Inventory.ship_order`) visit the
SKUs one at a time, in sorted order; they are not atomic across SKUs but
every step is idempotent by order id, so after a crash at any point calling
again with the same arguments finishes the job and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.application import parse_order_id
from domain.errors import DuplicateLineError, OutOfStockError, StockError
from domain.money import check_sku
from domain.retry import save_with_retries
from domain.stock import MAX_ON_HAND, Stock, check_stock_quantity, stock_id_for
from domain.views import StockView

ReservationLine = tuple[str, int | str]  # (sku, quantity), like the lines of Orders.place_order


@dataclass(frozen=True)
class Shortage:
    """The line of a reservation that could not be reserved."""

    sku: str
    available: int
    requested: int


@dataclass(frozen=True)
class Reservation:
    """What :meth:`Inventory.reserve_for_order` did.

    ``complete``: every line is reserved for the order. Otherwise none is:
    ``shortage`` names the first SKU (in sorted order) that could not be
    reserved, and the lines before it were released again.
    """

    order_id: UUID
    lines: Mapping[str, int]  # the quantities asked for, per SKU, in SKU order
    shortage: Shortage | None = None

    @property
    def complete(self) -> bool:
        return self.shortage is None

    @property
    def short_sku(self) -> str | None:
        return self.shortage.sku if self.shortage is not None else None


class Inventory(Application[UUID]):
    """Restock SKUs and reserve, release and ship their units for orders."""

    name = "Inventory"
    max_attempts = 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # As for Orders: the application's name names its tables, so a
        # subclass must keep reading and writing the same events.
        pinned = "name" not in cls.__dict__
        super().__init_subclass__(**kwargs)
        if pinned:
            cls.name = Inventory.name

    # ---- one SKU --------------------------------------------------------

    def restock(self, sku: str, quantity: int | str) -> None:
        """Add ``quantity`` units of ``sku`` on hand (its first restock creates its stock)."""
        sku = check_sku(sku)
        stock_id = stock_id_for(sku)

        def attempt() -> Stock:
            stock = self._find(stock_id) or Stock.create(sku)
            stock.restock(quantity)
            return stock

        self._save(attempt, sku)

    def stock(self, sku: str) -> StockView:
        """The stock of ``sku``; a SKU never restocked has nothing on hand."""
        sku = check_sku(sku)
        stock = self._find(stock_id_for(sku))
        return StockView.of(stock) if stock is not None else StockView.empty(sku)

    # ---- an order's lines -----------------------------------------------

    def reserve_for_order(self, order_id: UUID | str, lines: Sequence[ReservationLine]) -> Reservation:
        """Reserve every ``(sku, quantity)`` line for the order, or none.

        Lines are reserved in SKU order. A line that is already reserved for
        the order with the same quantity counts as reserved and records
        nothing, so calling again after a crash completes the reservation.
        If a line is out of stock (a SKU never restocked has 0 available) the
        lines before it are released and the result names the short SKU; an
        earlier attempt's reservations of those lines are released too, so
        a call again after a crash in the middle of this gives them back.

        Every line is validated before anything is reserved. A
        ``ReservationConflictError`` (the order already holds another
        quantity of a SKU) releases what this call reserved, then propagates;
        other errors (``ConcurrencyError``, a database failure) propagate and
        leave what was reserved for a call again to complete or release.
        """
        uuid = parse_order_id(order_id)
        wanted = checked_lines(lines)
        reached: list[str] = []  # reserved for the order now, by this call or an earlier one
        reserved_now: list[str] = []
        try:
            for sku, quantity in wanted.items():
                if self._reserve(uuid, sku, quantity):
                    reserved_now.append(sku)
                reached.append(sku)
        except OutOfStockError as short:
            self._each(uuid, reached, Stock.release)
            return Reservation(uuid, wanted, Shortage(short.sku, short.available, short.requested))
        except StockError:
            self._each(uuid, reserved_now, Stock.release)
            raise
        return Reservation(uuid, wanted)

    def release_order(self, order_id: UUID | str, skus: Iterable[str]) -> None:
        """Give back the units the order holds of each SKU; a SKU it holds nothing of records nothing."""
        self._each(parse_order_id(order_id), checked_skus(skus), Stock.release)

    def ship_order(self, order_id: UUID | str, skus: Iterable[str]) -> None:
        """The order's reservation of each SKU leaves as a shipment (on hand and reserved drop by it).

        A SKU the order holds nothing of (never reserved, released, or already
        shipped) records nothing.
        """
        self._each(parse_order_id(order_id), checked_skus(skus), Stock.ship)

    # ---- plumbing -------------------------------------------------------

    def _reserve(self, order_id: UUID, sku: str, quantity: int) -> bool:
        """Reserve one line; whether events were recorded (False: already reserved)."""
        stock_id = stock_id_for(sku)

        def attempt() -> Stock:
            stock = self._find(stock_id)
            if stock is None:
                raise OutOfStockError(sku, 0, quantity)
            stock.reserve(order_id, quantity)
            return stock

        return self._save(attempt, sku)

    def _each(self, order_id: UUID, skus: Iterable[str], command: Callable[[Stock, UUID], None]) -> None:
        """``command(stock, order_id)`` on the stock of each SKU in turn."""
        for sku in skus:
            self._apply(order_id, sku, command)

    def _apply(self, order_id: UUID, sku: str, command: Callable[[Stock, UUID], None]) -> None:
        """``command(stock, order_id)`` on the stock of ``sku``; a SKU without stock is left alone."""
        stock_id = stock_id_for(sku)

        def attempt() -> Stock | None:
            stock = self._find(stock_id)
            if stock is not None:
                command(stock, order_id)
            return stock

        self._save(attempt, sku)

    def _save(self, attempt: Callable[[], Stock | None], sku: str) -> bool:
        return save_with_retries(self, attempt, max_attempts=self.max_attempts, what=f"the stock of {sku}")

    def _find(self, stock_id: UUID) -> Stock | None:
        try:
            return self.repository.get(stock_id)
        except AggregateNotFoundError:
            return None


def checked_lines(lines: Sequence[ReservationLine]) -> Mapping[str, int]:
    """``(sku, quantity)`` lines as a read-only SKU -> quantity mapping in SKU order, each SKU once."""
    checked: dict[str, int] = {}
    for sku, quantity in lines:
        sku = check_sku(sku)
        if sku in checked:
            raise DuplicateLineError(f"SKU {sku} appears twice; give it once with the total quantity")
        checked[sku] = check_stock_quantity(quantity, f"reserved quantity of {sku}", MAX_ON_HAND)
    return MappingProxyType(dict(sorted(checked.items())))


def checked_skus(skus: Iterable[str]) -> list[str]:
    """Valid SKUs, each once, in sorted order."""
    if isinstance(skus, str):
        raise TypeError("skus must be a collection of SKUs, not one string")
    return sorted({check_sku(sku) for sku in skus})
