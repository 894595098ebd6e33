"""Stored events straight to plain records: the read side's hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification

from adapters.eventstore.log import StoredRow
from domain.application import Orders
from domain.records import CURRENT_VERSIONS, EventRecord, record_of, upcast


def _plain(value: Any) -> Any:
    """``value`` with eventsourcing's transcoded values replaced by their JSON forms.

    Decimal and datetime are stored as ``{"_type_": ..., "_data_": str(value)}``
    and ``value.isoformat()``: exactly the strings the envelope carries.
    """
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            kind, data = value["_type_"], value["_data_"]
            if kind == "decimal_str" or kind == "datetime_iso":
                return data
            if kind == "uuid_hex":
                return str(UUID(data))
            raise ValueError(f"stored event holds a value of unknown type {kind!r}")
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _plain(item)
        return value
    if type(value) is list:
        return [_plain(item) if type(item) is dict or type(item) is list else item for item in value]
    return value


def current_version(topic: str) -> int:
    """The schema version the code publishes ``topic`` at; ValueError for a topic it does not know."""
    current = CURRENT_VERSIONS.get(topic)
    if current is None:
        raise ValueError(f"stored event has unknown topic {topic!r}")
    return current


def split_state(state: bytes) -> tuple[str, int, dict[str, Any]]:
    """``(occurred_at, stored schema version, data as JSON values)`` of one stored event's JSON state.

    ``data`` is in the *stored* schema (not upcast). Only the values that can
    hold transcoded values (objects and arrays) are walked.
    """
    values = orjson.loads(state)
    stamp = values.pop("timestamp")
    if type(stamp) is dict and len(stamp) == 2 and stamp.get("_type_") == "datetime_iso" and "_data_" in stamp:
        occurred_at = stamp["_data_"]  # every event has one: the common case without a call
    else:
        occurred_at = _plain(stamp)
    values.pop("originator_topic", None)
    schema_version = values.pop("class_version", 1)
    for key, item in values.items():
        if type(item) is dict or type(item) is list:
            values[key] = _plain(item)
    return occurred_at, schema_version, values


def decode_stored(topic: str, originator_id: Any, originator_version: int, state: bytes) -> EventRecord:
    """The plain record of one stored event, in the current schema."""
    current = current_version(topic)
    occurred_at, schema_version, values = split_state(state)
    data = values if schema_version == current else upcast(topic, schema_version, values)
    aggregate_id = str(originator_id)
    # Positional, in EventRecord's field order: cheaper than keywords (docs/benchmarks.md#decoding).
    return EventRecord(
        topic,
        current,
        aggregate_id,
        int(originator_version),
        occurred_at,
        data,
    )


def stores_plain_json(orders: Orders) -> bool:
    """Whether ``orders`` stores events as plain JSON (no cipher, no compressor): the fast paths' condition."""
    return orders.mapper.cipher is None and orders.mapper.compressor is None


def decoder_for(orders: Orders) -> Callable[[StoredRow], EventRecord]:
    """stored row (see :class:`StoredLog`) -> EventRecord for this application's stored events."""
    if not stores_plain_json(orders):
        mapper = orders.mapper

        def slow(row: StoredRow) -> EventRecord:
            position, originator_id, version, topic, state = row
            n = Notification(
                id=position, originator_id=UUID(originator_id), originator_version=version, topic=topic, state=state
            )
            return record_of(mapper.to_domain_event(n))

        return slow
    return lambda row: decode_stored(row.topic, row.order_id, row.version, row.state)
