"""The order events as plain data: what leaves the domain.

These functions turn an ``Order`` event into JSON-ready values and back into
the current schema, so the relay, the history view and the projections all
see the same shape. Upcasting uses the very ``upcast_vN_vN+1`` methods the
event store uses, so an old message on Kafka reads like a new one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from domain.order import Order

# Attributes every eventsourcing event carries; the envelope has its own fields for them.
_ENVELOPE_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic")
EVENT_ID_NAMESPACE = UUID("0b7e4c0e-56a8-4a4e-8f0a-3a1f1c6d2b75")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE_BYTES)
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # hex digit -> variant digit

EVENT_TYPES: dict[str, type] = {
    cls.TOPIC: cls
    for cls in (
        Order.Placed,
        Order.LineAdded,
        Order.LineRemoved,
        Order.QuantityChanged,
        Order.ShippingAddressSet,
        Order.Confirmed,
        Order.Paid,
        Order.Shipped,
        Order.Delivered,
        Order.Cancelled,
    )
}


# The schema version the code writes each event type at: its class_version.
CURRENT_VERSIONS: dict[str, int] = {topic: int(getattr(cls, "class_version", 1)) for topic, cls in EVENT_TYPES.items()}


class UnknownEventTypeError(ValueError):
    pass


class SchemaVersionTooNewError(ValueError):
    pass


class EventRecord(NamedTuple):
    """One order event as plain values, in the current schema.

    A named tuple, and :attr:`event_id` derived from the order and version
    (:func:`event_id_for`) only when asked for: every event the relay and the
    projections read makes one (docs/benchmarks.md#decoding).
    """

    event_type: str
    schema_version: int
    aggregate_id: str
    aggregate_version: int
    occurred_at: str
    data: dict[str, Any]

    @property
    def event_id(self) -> str:
        return event_id_for(self.aggregate_id, self.aggregate_version)

    def as_dict(self) -> dict[str, Any]:
        """Every field, the event id first."""
        return {"event_id": self.event_id, **self._asdict()}


def event_id_for(aggregate_id: UUID | str, aggregate_version: int) -> str:
    """Deterministic: the same event re-published keeps the same id.

    Equal to ``str(uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}:{aggregate_version}"))``,
    computed without UUID objects because every published event needs one.
    """
    digest = _NAMESPACE_SHA1.copy()  # the namespace hashed once
    digest.update(f"{aggregate_id}:{aggregate_version}".encode())
    h = digest.hexdigest()
    # Version nibble 5, RFC 4122 variant bits 10xx.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def schema_version_of(event_type: str) -> int:
    """The current schema version of ``event_type`` (:class:`UnknownEventTypeError` if there is no such type)."""
    _event_class(event_type)
    return CURRENT_VERSIONS[event_type]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, EventRecord):
        return {k: to_jsonable(v) for k, v in value.as_dict().items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (UUID,)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def record_of(domain_event: Any) -> EventRecord:
    """The plain record of a domain event (already in the current schema)."""
    event_type = type(domain_event).TOPIC
    state = vars(domain_event)
    data = {k: to_jsonable(v) for k, v in state.items() if k not in _ENVELOPE_FIELDS}
    return EventRecord(
        event_type=event_type,
        schema_version=schema_version_of(event_type),
        aggregate_id=str(domain_event.originator_id),
        aggregate_version=int(domain_event.originator_version),
        occurred_at=domain_event.timestamp.isoformat(),
        data=data,
    )


def upcast(event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` of ``event_type`` at ``schema_version``, raised to the current version."""
    cls = _event_class(event_type)
    current = CURRENT_VERSIONS[event_type]
    if schema_version > current:
        raise SchemaVersionTooNewError(
            f"{event_type} schema version {schema_version} is newer than this code "
            f"knows ({current}); upgrade orderstream before consuming it"
        )
    state = dict(data)
    for version in range(schema_version, current):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
    return state


def _event_class(event_type: str) -> type:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventTypeError(f"unknown event type {event_type!r}") from None
