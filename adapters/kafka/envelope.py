"""The event envelope on Kafka: one JSON message per event.

    key:     order id (UUID string), so one order's events share a partition
    headers: event_type, schema_version, event_id, aggregate_id,
             aggregate_version, position
    value:   {"event_id", "event_type", "schema_version", "aggregate_id",
              "aggregate_version", "position", "occurred_at", "data": {...}}

``event_id`` is derived from (aggregate id, aggregate version), so a
re-published event is recognisably the same event. ``decode`` upcasts old
schema versions with the domain's own upcasters and raises
:class:`PoisonMessageError` (one line saying what is wrong) for anything it
cannot read: garbage bytes, a missing field, an unknown event type, a schema
version newer than the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from domain.records import (
    CURRENT_VERSIONS,
    EventRecord,
    SchemaVersionTooNewError,
    UnknownEventTypeError,
    schema_version_of,
    upcast,
)

HEADER_FIELDS = ("event_type", "schema_version", "event_id", "aggregate_id", "aggregate_version", "position")


class PoisonMessageError(ValueError):
    """A message that can never be decoded as an order event by this code."""


@dataclass(frozen=True)
class Encoded:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(record: EventRecord, position: int) -> Encoded:
    """The Kafka message of ``record``, stored at notification ``position``."""
    event_id = record.event_id  # derived: computed once for both
    return Encoded(
        key=record.aggregate_id.encode(),
        value=value_of(
            event_id, record.event_type, record.schema_version, record.aggregate_id,
            record.aggregate_version, position, record.occurred_at, record.data,
        ),
        headers=headers_of(
            event_id, record.event_type, record.schema_version, record.aggregate_id,
            record.aggregate_version, position,
        ),
    )


def value_of(
    event_id: str, event_type: str, schema_version: int, aggregate_id: str,
    aggregate_version: int, position: int, occurred_at: str, data: dict[str, Any],
) -> bytes:
    """The message value: the envelope's fields, in this order, as compact JSON."""
    return orjson.dumps({
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": schema_version,
        "aggregate_id": aggregate_id,
        "aggregate_version": aggregate_version,
        "position": position,
        "occurred_at": occurred_at,
        "data": data,
    })


def headers_of(
    event_id: str, event_type: str, schema_version: int, aggregate_id: str, aggregate_version: int, position: int,
) -> list[tuple[str, bytes]]:
    """The message headers: the ``HEADER_FIELDS``, in that order, as UTF-8 text."""
    return [
        ("event_type", event_type.encode()),
        ("schema_version", str(schema_version).encode()),
        ("event_id", event_id.encode()),
        ("aggregate_id", aggregate_id.encode()),
        ("aggregate_version", str(aggregate_version).encode()),
        ("position", str(position).encode()),
    ]


def decode(value: bytes | None) -> tuple[EventRecord, int]:
    """The event (in the current schema) and its position, from a message value."""
    if value is None:
        raise PoisonMessageError("message has no value (a tombstone?)")
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise PoisonMessageError(f"message value is not JSON: {e}") from None
    if type(body) is dict:
        # The common case, checked in one go: every field present, of its type,
        # and the event already in the current schema (no upcast, no copy).
        get = body.get
        event_id, event_type, version = get("event_id"), get("event_type"), get("schema_version")
        aggregate_id, aggregate_version = get("aggregate_id"), get("aggregate_version")
        occurred_at, data, position = get("occurred_at"), get("data"), get("position")
        if (
            type(event_type) is str
            and type(version) is int
            and CURRENT_VERSIONS.get(event_type) == version
            and type(event_id) is str
            and type(aggregate_id) is str
            and type(aggregate_version) is int
            and type(occurred_at) is str
            and type(data) is dict
            and type(position) is int
        ):
            return EventRecord(event_type, version, aggregate_id, aggregate_version, occurred_at, data), position
    return _decode_checked(body)


def _decode_checked(body: Any) -> tuple[EventRecord, int]:
    """``decode`` field by field: upcasts older schemas, says exactly what is wrong otherwise."""
    if not isinstance(body, dict):
        raise PoisonMessageError("message value is not a JSON object")
    try:
        event_type = _str(body, "event_type")
        data = upcast(event_type, _int(body, "schema_version"), _dict(body, "data"))
        _str(body, "event_id")  # part of the envelope; the record derives it (EventRecord.event_id)
        record = EventRecord(
            event_type=event_type,
            schema_version=schema_version_of(event_type),  # the data is upcast to it
            aggregate_id=_str(body, "aggregate_id"),
            aggregate_version=_int(body, "aggregate_version"),
            occurred_at=_str(body, "occurred_at"),
            data=data,
        )
        position = _int(body, "position")
    except (UnknownEventTypeError, SchemaVersionTooNewError) as e:
        raise PoisonMessageError(str(e)) from None
    return record, position


def _field(body: dict[str, Any], name: str) -> Any:
    try:
        return body[name]
    except KeyError:
        raise PoisonMessageError(f"message has no {name!r} field") from None


def _str(body: dict[str, Any], name: str) -> str:
    value = _field(body, name)
    if not isinstance(value, str):
        raise PoisonMessageError(f"message field {name!r} is not a string")
    return value


def _int(body: dict[str, Any], name: str) -> int:
    value = _field(body, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PoisonMessageError(f"message field {name!r} is not an integer")
    return value


def _dict(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = _field(body, name)
    if not isinstance(value, dict):
        raise PoisonMessageError(f"message field {name!r} is not an object")
    return value
