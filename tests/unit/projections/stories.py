"""Order stories for projection tests: real aggregates, real event records.

An ``OrderStory`` drives one ``Order`` through its public commands and keeps
the ``EventRecord`` of every event it triggered (exactly what the relay
publishes), so handler tests see the real event shapes::

    story = OrderStory(customer_id="c-1").add_line("SKU-2", 1, "5.00").pay()
    rows = project(OrderSummary(), story.records)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.order import Order, OrderStatus
from domain.records import EventRecord, record_of

ADDRESS = {
    "name": "Sam Doe",
    "street": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class OrderStory:
    """One order moved through its commands; ``records`` are its events so far."""

    def __init__(
        self,
        customer_id: str = "customer-1",
        lines: tuple[tuple[str, int, str], ...] = (("SKU-1", 2, "10.00"),),
        currency: str = "EUR",
        channel: str = "web",
    ) -> None:
        self.order = Order.place(customer_id, [tuple(ln) for ln in lines], currency, channel)
        self.records: list[EventRecord] = []
        self._collect()

    @property
    def order_id(self) -> str:
        return str(self.order.id)

    @property
    def last(self) -> EventRecord:
        return self.records[-1]

    def add_line(self, sku: str, quantity: int, unit_price: str) -> OrderStory:
        return self._do(self.order.add_line, sku, quantity, unit_price)

    def remove_line(self, sku: str) -> OrderStory:
        return self._do(self.order.remove_line, sku)

    def change_quantity(self, sku: str, quantity: int) -> OrderStory:
        return self._do(self.order.change_quantity, sku, quantity)

    def set_shipping_address(self, **changes: str) -> OrderStory:
        return self._do(self.order.set_shipping_address, {**ADDRESS, **changes})

    def confirm(self) -> OrderStory:
        return self.set_shipping_address()._do(self.order.confirm)

    def pay(self) -> OrderStory:
        if self.order.status is OrderStatus.PLACED:
            self.confirm()
        return self._do(
            self.order.record_payment, f"pay-{self.order_id[:8]}", self.order.total, self.order.currency
        )

    def ship(self) -> OrderStory:
        return self._do(self.order.ship, "DHL", "TRK-1")

    def deliver(self) -> OrderStory:
        return self._do(self.order.mark_delivered)

    def cancel(self) -> OrderStory:
        return self._do(self.order.cancel, "changed my mind")

    @property
    def total(self) -> Decimal:
        return self.order.total

    def _do(self, command: Any, *args: Any) -> OrderStory:
        command(*args)
        self._collect()
        return self

    def _collect(self) -> None:
        self.records.extend(record_of(e) for e in self.order.collect_events())


def at(record: EventRecord, occurred_at: str) -> EventRecord:
    """``record`` as if it had happened at ``occurred_at`` (ISO text)."""
    return record._replace(occurred_at=occurred_at)


def interleave(histories: list[list[EventRecord]], choices: list[int]) -> list[EventRecord]:
    """The histories merged into one stream, each kept in its own order.

    ``choices`` pick which history gives the next event (index modulo the
    histories still having events), as events of different orders may arrive
    in any order across partitions.
    """
    queues = [list(h) for h in histories if h]
    merged: list[EventRecord] = []
    picks = iter(choices)
    while queues:
        index = next(picks, 0) % len(queues)
        merged.append(queues[index].pop(0))
        if not queues[index]:
            queues.pop(index)
    return merged
