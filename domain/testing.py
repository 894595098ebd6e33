"""The aggregate test kit: given events, when a command, then events or an error.

No infrastructure: the aggregate is rebuilt in memory from the given events
(exactly as the event store would), the command runs, and the events it
triggered are compared with the expected ones::

    from domain.order import Order
    from domain.testing import given, placed

    given(placed(), (Order.ShippingAddressSet, {"address": ADDRESS})) \\
        .when(lambda order: order.confirm()) \\
        .then(Order.Confirmed)

    given(placed()).when(lambda order: order.ship("DHL", "1")) \\
        .then_error(InvalidTransitionError, match="must be paid")

    given().when(lambda _: Order.place("c-1", [("SKU-1", 1, "9.99")])) \\
        .then((Order.Placed, {"customer_id": "c-1"}))

An expected event is an event class, or ``(EventClass, {attribute: value})``;
only the attributes named are compared. ``.state`` is the aggregate after
the command, for any further assertion.

The kit works for any aggregate: the aggregate rebuilt is the class the
first given event (its creation event, e.g. ``Order.Placed`` or
``Stock.Created``) is nested in::

    from domain.stock import Stock
    from domain.testing import given, stock_created

    given(stock_created("BOOK-42"), (Stock.Restocked, {"quantity": 1})) \\
        .when(lambda stock: stock.reserve(ORDER_ID, 2)) \\
        .then_error(OutOfStockError, match="1 available, 2 asked for")
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.order import Order, placement_fingerprint
from domain.stock import Stock

EventSpec = type | tuple[type, dict[str, Any]]
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def placed(**overrides: Any) -> tuple[type, dict[str, Any]]:
    """An ``Order.Placed`` with sensible defaults; override any attribute."""
    data: dict[str, Any] = {
        "customer_id": "customer-1",
        "currency": "EUR",
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": Decimal("10.00")}],
        "channel": "web",
        "idempotency_key": None,
    }
    data.update(overrides)
    data.setdefault(
        "fingerprint",
        placement_fingerprint(data["customer_id"], data["currency"], data["channel"], data["lines"]),
    )
    return (Order.Placed, data)


def stock_created(sku: str = "SKU-1") -> tuple[type, dict[str, Any]]:
    """A ``Stock.Created`` of ``sku`` (an empty stock: restock it with ``Stock.Restocked``)."""
    return (Stock.Created, {"sku": sku})


def given(*events: EventSpec, aggregate_id: UUID | None = None) -> Given:
    return Given(list(events), aggregate_id or uuid4())


class Given:
    def __init__(self, specs: list[EventSpec], aggregate_id: UUID) -> None:
        self.aggregate_id = aggregate_id
        self.history = [
            _build_event(spec, aggregate_id, version) for version, spec in enumerate(specs, 1)
        ]

    def replay(self) -> Aggregate | None:
        """The aggregate rebuilt from the given events (None when there are none)."""
        aggregate = None
        for domain_event in self.history:
            aggregate = domain_event.mutate(aggregate)
        return aggregate

    def when(self, command: Callable[[Any], Any]) -> Then:
        """Run ``command`` on the rebuilt aggregate (or on None, for a creation)."""
        aggregate = self.replay()
        try:
            result = command(aggregate)
        except Exception as error:  # kept for then_error; re-raised by then()
            return Then(aggregate, [], error)
        if aggregate is None:
            aggregate = result
        new_events = list(aggregate.collect_events()) if aggregate is not None else []
        return Then(aggregate, new_events, None)


class Then:
    def __init__(self, state: Any, events: list[Any], error: Exception | None) -> None:
        self._state = state
        self.events = events
        self.error = error
        self._error_expected = False

    @property
    def state(self) -> Any:
        """The aggregate after the command; a command that raised unexpectedly fails here too."""
        if self.error is not None and not self._error_expected:
            raise AssertionError(f"the command raised {self.error!r}") from self.error
        return self._state

    def then(self, *expected: EventSpec) -> Then:
        """The command triggered exactly these events, in this order."""
        if self.error is not None:
            raise AssertionError(f"expected events, but the command raised {self.error!r}") from self.error
        actual = [type(e).__qualname__ for e in self.events]
        wanted = [_spec_class(s).__qualname__ for s in expected]
        if actual != wanted:
            raise AssertionError(f"expected events {wanted}, got {actual}")
        for domain_event, spec in zip(self.events, expected, strict=True):
            for name, value in _spec_data(spec).items():
                got = getattr(domain_event, name)
                if got != value:
                    raise AssertionError(
                        f"{type(domain_event).__qualname__}.{name}: expected {value!r}, got {got!r}"
                    )
        return self

    def then_nothing(self) -> Then:
        """The command succeeded and recorded nothing."""
        return self.then()

    def then_error(self, error_type: type[Exception], match: str | None = None) -> Then:
        """The command raised ``error_type`` (message matching ``match``) and recorded nothing."""
        if self.error is None:
            got = [type(e).__qualname__ for e in self.events]
            raise AssertionError(f"expected {error_type.__name__}, but the command triggered {got}")
        if not isinstance(self.error, error_type):
            raise AssertionError(
                f"expected {error_type.__name__}, got {type(self.error).__name__}: {self.error}"
            ) from self.error
        if match is not None and not re.search(match, str(self.error)):
            raise AssertionError(f"error message {str(self.error)!r} does not match {match!r}")
        if self._state is not None and self._state.pending_events:
            raise AssertionError("the command raised but left pending events behind")
        self._error_expected = True
        return self


def _spec_class(spec: EventSpec) -> type:
    return spec[0] if isinstance(spec, tuple) else spec


def _spec_data(spec: EventSpec) -> dict[str, Any]:
    return dict(spec[1]) if isinstance(spec, tuple) else {}


def _build_event(spec: EventSpec, aggregate_id: UUID, version: int) -> Any:
    cls = _spec_class(spec)
    data = _spec_data(spec)
    data.update(
        originator_id=aggregate_id,
        originator_version=version,
        timestamp=_EPOCH + timedelta(seconds=version),
    )
    if issubclass(cls, Aggregate.Created):
        data["originator_topic"] = get_topic(aggregate_class_of(cls))
    return cls(**data)


def aggregate_class_of(event_class: type) -> type[Aggregate]:
    """The aggregate class an event class is nested in (``Order.Placed`` -> ``Order``)."""
    owner_path, _, _ = event_class.__qualname__.rpartition(".")
    owner: Any = sys.modules[event_class.__module__]
    try:
        for name in owner_path.split(".") if owner_path else ():
            owner = getattr(owner, name)
    except AttributeError:
        owner = None
    if not (isinstance(owner, type) and issubclass(owner, Aggregate)):
        raise TypeError(
            f"{event_class.__qualname__} is not nested in an aggregate class; "
            "the test kit creates the aggregate whose class the creation event is nested in"
        )
    return owner
