"""The reactor test kit: given an order's events, when one more, then these effects (no I/O).

A reactor's handlers are pure, so they are tested like an aggregate: the
given events are applied to the reactor's state in memory (their effects
dropped), the last one is applied, and the effects it returned are compared
with the expected ones::

    from domain.order import Order
    from domain.testing import placed
    from reactors.testing import reacting

    reacting(PaymentReactor).given(placed()).when(Order.Confirmed).then(PaymentCapture)

    reacting(InventoryReactor).given(placed()) \\
        .when((Order.Cancelled, {"reason": "changed my mind", "refund_due": Decimal(0)})) \\
        .then((Command, {"action": "release"}))

An event is given as in ``domain.testing`` (a class, or ``(class, {attribute:
value})``; versions follow their order). An expected effect is an effect
(compared whole), an effect class, or ``(class, {attribute: value})`` (only
the attributes named are compared). ``.rows`` is the reactor's state after.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.records import EventRecord, record_of
from domain.testing import EventSpec, given
from projections.testing import InMemoryRows
from reactors.contract import Effect, Reactor

EffectSpec = Effect | type[Effect] | tuple[type[Effect], dict[str, Any]]


def reacting(reactor: type[Reactor]) -> Reacting:
    return Reacting(reactor)


class Reacting:
    def __init__(self, reactor: type[Reactor]) -> None:
        self.reactor = reactor

    def given(self, *events: EventSpec, order_id: UUID | None = None) -> Given:
        """These events of one order (versions 1, 2, ...) have been applied before."""
        return Given(self.reactor, list(events), order_id or uuid4())


class Given:
    def __init__(self, reactor: type[Reactor], events: list[EventSpec], order_id: UUID) -> None:
        self.reactor = reactor
        self.events = events
        self.order_id = order_id

    def when(self, event: EventSpec) -> Then:
        """Apply the given events, then ``event``; the effects it returned are the result."""
        history = [record_of(e) for e in given(*self.events, event, aggregate_id=self.order_id).history]
        reactor = self.reactor()
        rows = InMemoryRows()
        for record in history[:-1]:
            reactor.apply(rows, record)
        reactor.take_effects()
        reactor.apply(rows, history[-1])
        return Then([r.effect for r in reactor.take_effects()], rows, history[-1])


class Then:
    def __init__(self, effects: list[Effect], rows: InMemoryRows, event: EventRecord) -> None:
        self.effects = effects
        self.rows = rows
        self.event = event

    def then(self, *expected: EffectSpec) -> Then:
        """The event led to exactly these effects, in this order."""
        if len(self.effects) != len(expected):
            raise AssertionError(f"expected {len(expected)} effects, got {self.effects!r}")
        for effect, spec in zip(self.effects, expected, strict=True):
            if isinstance(spec, Effect):
                if effect != spec:
                    raise AssertionError(f"expected {spec!r}, got {effect!r}")
                continue
            cls, attributes = spec if isinstance(spec, tuple) else (spec, {})
            if type(effect) is not cls:
                raise AssertionError(f"expected a {cls.__name__}, got {effect!r}")
            for name, value in attributes.items():
                got = getattr(effect, name)
                if got != value:
                    raise AssertionError(f"{cls.__name__}.{name}: expected {value!r}, got {got!r}")
        return self

    def then_nothing(self) -> Then:
        """The event led to no effect."""
        return self.then()
