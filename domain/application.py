"""The domain API: the ``Orders`` application.

Each command is one load, one aggregate call, one save. Appends are atomic
and optimistic: if another writer appended to the same order first, the save
fails and the command is re-applied to the fresh state (bounded retries,
``domain.retry``), which is safe because every command re-checks its rules on
that state. After the last attempt a :class:`ConcurrencyError` is raised.

Persistence is chosen by the eventsourcing environment handed to the
constructor (see ``adapters.eventstore.wiring``); this module never names a database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import OrderNotFoundError
from domain.order import Order, order_id_for_key
from domain.records import EventRecord, record_of
from domain.retry import save_with_retries
from domain.views import OrderView

LineSpec = tuple[str, int | str, Decimal | str]


class Orders(Application[UUID]):
    """Place and move orders through their lifecycle."""

    name = "Orders"
    max_attempts = 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names an application after its class, and PostgreSQL
        # table names follow the name: a subclass must keep reading and
        # writing the same events.
        pinned = "name" not in cls.__dict__
        super().__init_subclass__(**kwargs)
        if pinned:
            cls.name = Orders.name

    # ---- commands -------------------------------------------------------

    def place_order(
        self,
        customer_id: str,
        lines: Sequence[LineSpec],
        currency: str = "EUR",
        channel: str = "web",
        idempotency_key: str | None = None,
    ) -> UUID:
        """Place an order and return its id.

        With an ``idempotency_key`` the id is derived from the key: placing
        again with the same key and payload returns the same id and records
        nothing; the same key with another payload raises
        ``IdempotencyKeyConflictError``.
        """
        if idempotency_key is not None:
            existing = self._find(order_id_for_key(str(idempotency_key)))
            if existing is not None:
                existing.check_same_placement(customer_id, lines, currency, channel)
                return existing.id
        order = Order.place(customer_id, lines, currency, channel, idempotency_key)
        try:
            self.save(order)
        except IntegrityError:
            # Another caller placed with the same key between our look and our save.
            existing = self._find(order.id)
            if existing is None:
                raise
            existing.check_same_placement(customer_id, lines, currency, channel)
        return order.id

    def add_line(self, order_id: UUID | str, sku: str, quantity: int | str, unit_price: Decimal | str) -> None:
        self._update(order_id, lambda order: order.add_line(sku, quantity, unit_price))

    def remove_line(self, order_id: UUID | str, sku: str) -> None:
        self._update(order_id, lambda order: order.remove_line(sku))

    def change_quantity(self, order_id: UUID | str, sku: str, quantity: int | str) -> None:
        self._update(order_id, lambda order: order.change_quantity(sku, quantity))

    def set_shipping_address(self, order_id: UUID | str, address: dict[str, str]) -> None:
        self._update(order_id, lambda order: order.set_shipping_address(address))

    def confirm(self, order_id: UUID | str) -> None:
        self._update(order_id, lambda order: order.confirm())

    def record_payment(
        self, order_id: UUID | str, payment_reference: str, amount: Decimal | str, currency: str
    ) -> None:
        self._update(
            order_id, lambda order: order.record_payment(payment_reference, amount, currency)
        )

    def ship(self, order_id: UUID | str, carrier: str, tracking_number: str) -> None:
        self._update(order_id, lambda order: order.ship(carrier, tracking_number))

    def mark_delivered(self, order_id: UUID | str) -> None:
        self._update(order_id, lambda order: order.mark_delivered())

    def cancel(self, order_id: UUID | str, reason: str = "") -> None:
        self._update(order_id, lambda order: order.cancel(reason))

    # ---- queries --------------------------------------------------------

    def get_order(self, order_id: UUID | str) -> OrderView:
        return OrderView.of(self._load(order_id))

    def order_history(self, order_id: UUID | str) -> list[EventRecord]:
        """The order's events, oldest first, as plain records in the current schema."""
        uuid = parse_order_id(order_id)
        records = [record_of(e) for e in self.events.get(uuid)]
        if not records:
            raise OrderNotFoundError(f"there is no order {uuid}; check the order id")
        return records

    # ---- plumbing -------------------------------------------------------

    def _update(self, order_id: UUID | str, command: Callable[[Order], Any]) -> None:
        def attempt() -> Order:
            order = self._load(order_id)
            command(order)
            return order

        save_with_retries(self, attempt, max_attempts=self.max_attempts, what=f"order {order_id}")

    def _load(self, order_id: UUID | str) -> Order:
        order = self._find(parse_order_id(order_id))
        if order is None:
            raise OrderNotFoundError(f"there is no order {order_id}; check the order id")
        return order

    def _find(self, order_id: UUID) -> Order | None:
        try:
            return self.repository.get(order_id)
        except AggregateNotFoundError:
            return None


def parse_order_id(order_id: UUID | str) -> UUID:
    if isinstance(order_id, UUID):
        return order_id
    try:
        return UUID(str(order_id).strip())
    except ValueError:
        raise OrderNotFoundError(
            f"{order_id!r} is not an order id; order ids are UUIDs like "
            "3f2b8c1e-9a4d-4f6e-b1c2-7d8e9f0a1b2c"
        ) from None
