"""The reactor contract: a consumer that *acts* on order events, declared like a projection.

A reactor is a projection whose handlers also return *effects*: things to
do outside its own tables (a domain command, an email, a payment capture)::

    class Notification(Reactor):
        name = "notification"
        metadata = MetaData()

        @reacts_to(Order.Shipped)
        def shipped(self, rows: Rows, event: EventRecord) -> list[Effect]:
            return [Email(to=..., subject=..., body=...)]

Handlers are pure, like a projection's: they read and write their own rows
through ``rows`` (optional state tables, with their Alembic revisions on a
branch of their own) and return effects; they perform no I/O. The framework
records the state changes, the effects and the source offsets in ONE SQL
transaction (the effects outbox); a dispatcher delivers the effects later,
with retries. Each effect has a deterministic key, ``<reactor>:<event
id>:<index>``: a replay recomputes the same keys, and an effect whose key is
already recorded is never recorded (nor sent) again. The key travels with
what is sent (an email's Message-ID, a payment's idempotency key) so that a
receiver can drop the one duplicate a crash between sending and marking it
sent can cause.

Unlike a projection, a reactor may start in the middle of the log (at its
head, by default): the first event it sees of an order need not be that
order's first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from domain.records import EventRecord
from projections.contract import Projection, Rows, Topical


@dataclass(frozen=True)
class Effect:
    """Something a reactor wants done outside its tables; plain JSON values only."""

    kind: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value, which cost as much
        # as the JSON encoding itself in a replay recording ~10^5 effects.
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Command(Effect):
    """A domain command: ``action`` of the ``target`` domain API (``orders`` or ``inventory``) with ``args``.

    Domain commands are idempotent by their payload (a cancel with the same
    reason, a payment with the same reference, a reservation for the same
    order), so delivering one twice changes nothing the second time.
    """

    kind: ClassVar[str] = "command"
    target: str
    action: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Email(Effect):
    """A plain-text email; its Message-ID is made from the effect's key."""

    kind: ClassVar[str] = "email"
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class PaymentCapture(Effect):
    """Capture the payment of a confirmed order through the payment gateway (idempotency key: the effect's key).

    The amount and currency are the order's at delivery (a confirmed order's
    lines no longer change); an approved capture is recorded on the order, a
    declined one cancels it.
    """

    kind: ClassVar[str] = "payment_capture"
    order_id: str


EFFECT_KINDS: dict[str, type[Effect]] = {cls.kind: cls for cls in (Command, Email, PaymentCapture)}


def effect_json(effect: Effect) -> str:
    return json.dumps(effect.payload(), sort_keys=True, separators=(",", ":"))


def effect_from_json(kind: str, payload: str) -> Effect:
    """The effect recorded as ``kind`` and ``payload`` (:func:`effect_json`)."""
    try:
        cls = EFFECT_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown effect kind {kind!r}") from None
    return cls(**json.loads(payload))


def effect_key(reactor: str, event: EventRecord, index: int) -> str:
    """The effect's deterministic key: the same reactor, event and position in the handler's list, the same key."""
    return f"{reactor}:{event.event_id}:{index}"


@dataclass(frozen=True)
class ReactedEffect:
    """An effect as a handler returned it, with the event it reacted to and its key."""

    key: str
    event: EventRecord
    effect: Effect


ReactorHandler = Callable[[Any, Rows, EventRecord], Sequence[Effect] | None]


def reacts_to(*event_types: type[Topical] | str) -> Callable[[ReactorHandler], ReactorHandler]:
    """Mark a method as the handler of these event types; it returns the effects (or None)."""
    topics = tuple(t if isinstance(t, str) else t.TOPIC for t in event_types)

    def mark(method: ReactorHandler) -> ReactorHandler:
        method.__handles__ = topics  # type: ignore[attr-defined]  # read by Projection.__init_subclass__
        return method

    return mark


class Reactor(Projection):
    """Base class of reactors. Subclasses declare state tables (optional) and handlers that return effects."""

    starts_mid_stream: ClassVar[bool] = True

    def __init__(self) -> None:
        self._reacted: list[ReactedEffect] = []

    def bound_handlers(self) -> dict[str, Callable[[Rows, EventRecord], None]]:
        """Event type -> a handler that runs this reactor's and keeps the effects it returned."""
        bound = self.__dict__.get("_bound_handlers")
        if bound is None:
            bound = self.__dict__["_bound_handlers"] = {
                topic: self._collecting(getattr(self, attr)) for topic, attr in self.handlers.items()
            }
        return bound

    def _collecting(
        self, handler: Callable[[Rows, EventRecord], Sequence[Effect] | None]
    ) -> Callable[[Rows, EventRecord], None]:
        def run(rows: Rows, event: EventRecord) -> None:
            effects = handler(rows, event) or ()
            # Kept only once the handler returned: a failed attempt (retried,
            # its rows rolled back) leaves no effects behind.
            self._reacted.extend(
                ReactedEffect(effect_key(self.name, event, i), event, effect) for i, effect in enumerate(effects)
            )

        return run

    def take_effects(self) -> list[ReactedEffect]:
        """The effects the handlers returned since the last call, in order."""
        taken, self._reacted = self._reacted, []
        return taken
