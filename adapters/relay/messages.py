"""Stored row -> Kafka message, and the relay's lag: pure functions, no I/O.

One message per stored event, in the envelope of docs/envelope.md: key = order
id, ``position`` = notification id, ``event_id`` derived from order id and
version, so a re-published event is recognisably the same event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from adapters.eventstore.decoding import current_version, decoder_for, split_state, stores_plain_json
from adapters.eventstore.log import StoredRow
from adapters.kafka.envelope import encode, headers_of, value_of
from domain.application import Orders
from domain.records import event_id_for, upcast


@dataclass(slots=True)
class OutgoingMessage:
    """One event ready for Kafka, with the notification id it came from.

    Not frozen: one is built per published event, and a frozen dataclass's
    ``__init__`` costs a measurable share of the relay's time per event.
    """

    position: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def outgoing_message(row: StoredRow) -> OutgoingMessage:
    """The message of a stored row whose state is plain JSON, in the current schema.

    Byte for byte ``envelope.encode(decode_stored(...), position)`` (unit-tested
    for every event type and for upcast history), in one pass: no
    ``EventRecord`` or ``Encoded`` in between.
    """
    position, aggregate_id, version, topic, state = row
    schema_version = current_version(topic)
    occurred_at, stored_version, data = split_state(state)
    if stored_version != schema_version:
        data = upcast(topic, stored_version, data)
    event_id = event_id_for(aggregate_id, version)
    return OutgoingMessage(
        position,
        aggregate_id.encode(),
        value_of(event_id, topic, schema_version, aggregate_id, version, position, occurred_at, data),
        headers_of(event_id, topic, schema_version, aggregate_id, version, position),
    )


def encoder_for(orders: Orders) -> Callable[[StoredRow], OutgoingMessage]:
    """stored row -> message for this application: :func:`outgoing_message`, unless its events are
    enciphered or compressed (then through ``decoder_for``'s slow path and ``envelope.encode``)."""
    if stores_plain_json(orders):
        return outgoing_message
    decode = decoder_for(orders)

    def through_the_mapper(row: StoredRow) -> OutgoingMessage:
        encoded = encode(decode(row), position=row[0])
        return OutgoingMessage(row[0], encoded.key, encoded.value, encoded.headers)

    return through_the_mapper


def messages_of(rows: Iterable[StoredRow], encode_row: Callable[[StoredRow], OutgoingMessage]) -> list[OutgoingMessage]:
    """The messages of stored ``rows``, in log order; ``encode_row`` is ``encoder_for(orders)``."""
    return [encode_row(row) for row in rows]


def lag(checkpoint: int, newest: int | None) -> int:
    """Notification ids not yet published (an upper bound: gaps count too)."""
    return max(0, (newest or 0) - checkpoint)
