"""Stored events straight to plain records: the read side's hot path.

``record_of(orders.mapper.to_domain_event(n))`` rebuilds a domain event object
and then takes it apart again. The relay and the embedded projection source
only need the plain values, so this reads eventsourcing's stored JSON
directly: transcoded values (``{"_type_": ..., "_data_": ...}``) become their
JSON forms, the stored ``class_version`` is upcast with the domain's own
upcasters. A unit test holds the result equal to the slow path for every
event type and for v1 history.

Applications with a cipher or a compressor store bytes that are not JSON;
for those, ``decoder_for`` returns the slow path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson

from domain.application import Orders
from domain.events import EVENT_TYPES, EventRecord, event_id_for, record_of, upcast


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


_CURRENT_VERSIONS = {topic: int(getattr(cls, "class_version", 1)) for topic, cls in EVENT_TYPES.items()}


def decode_stored(topic: str, originator_id: Any, originator_version: int, state: bytes) -> EventRecord:
    """The plain record of one stored event, in the current schema."""
    current = _CURRENT_VERSIONS.get(topic)
    if current is None:
        raise ValueError(f"stored event has unknown topic {topic!r}")
    values = _plain(orjson.loads(state))
    occurred_at = values.pop("timestamp")
    values.pop("originator_topic", None)
    schema_version = values.pop("class_version", 1)
    data = values if schema_version == current else upcast(topic, schema_version, values)
    aggregate_id = str(originator_id)
    return EventRecord(
        event_id=event_id_for(aggregate_id, originator_version),
        event_type=topic,
        schema_version=current,
        aggregate_id=aggregate_id,
        aggregate_version=int(originator_version),
        occurred_at=occurred_at,
        data=data,
    )


def decoder_for(orders: Orders) -> Callable[[Any], EventRecord]:
    """notification -> EventRecord for this application's stored events."""
    if orders.mapper.cipher is not None or orders.mapper.compressor is not None:
        return lambda n: record_of(orders.mapper.to_domain_event(n))
    return lambda n: decode_stored(n.topic, n.originator_id, n.originator_version, n.state)
