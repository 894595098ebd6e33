"""The event store's log as a projection source: one partition, offset = notification id."""

from __future__ import annotations

from adapters.eventstore.decoding import decoder_for
from adapters.eventstore.log import OrderShare, StoredLog, StoredRow
from adapters.kafka.envelope import PoisonMessageError
from adapters.source import SourceUnavailableError
from domain.application import Orders
from domain.records import EVENT_TYPES, EventRecord, SchemaVersionTooNewError
from projections.apply import Message

EMBEDDED_PARTITION = 0


class EmbeddedSource:
    """The ``Orders`` notification log as one partition (offset = notification id).

    Given a ``share``, :meth:`read` gives only the events of the orders in
    that share (a worker of a split rebuild, see adapters.runner.parallel).
    """

    partitions = (EMBEDDED_PARTITION,)

    def __init__(self, orders: Orders, share: OrderShare | None = None) -> None:
        self.orders = orders
        self.recorder = orders.recorder
        self.log = StoredLog(orders)
        self.share = share
        self._decode = decoder_for(orders)

    def end_offsets(self) -> dict[int, int]:
        """The offset after the last notification (0 for an empty log)."""
        last = self.recorder.max_notification_id()
        return {EMBEDDED_PARTITION: 0 if last is None else last + 1}

    def read(self, start: int, limit: int, stop: int | None = None) -> list[Message]:
        """Up to ``limit`` messages at offsets from ``start`` up to ``stop``, in log order (of this source's share)."""
        return [self.message(row) for row in self.log.read(start, limit, stop=stop, share=self.share)]

    def refetch(self, partition: int, offset: int, payload: bytes | None) -> Message:
        """The message at ``offset`` again (a dead letter being retried)."""
        found = self.log.read(offset, 1, stop=offset)
        if not found:
            raise SourceUnavailableError(f"notification {offset} is no longer in the event store")
        return self.message(found[0])

    def message(self, row: StoredRow) -> Message:
        # No payload for a decoded event: a dead letter encodes its envelope
        # only when one is written (see adapters.sql.dead_letters.record_dead_letters).
        try:
            record = self.record(row)
        except PoisonMessageError as e:
            return Message(EMBEDDED_PARTITION, row.position, None, payload=row.state, error=str(e), key=row.order_id)
        return Message(EMBEDDED_PARTITION, row.position, record)

    def record(self, row: StoredRow) -> EventRecord:
        """The plain record of a notification, in the current schema.

        Read straight from the stored JSON (``adapters.eventstore.decoding``, the
        relay's decoder: no domain object is built). Anything it cannot read
        (an unknown event type, a schema version newer than the code, bytes
        that are not an event) is a poison message.
        """
        position, topic = row.position, row.topic
        if topic not in EVENT_TYPES:
            raise PoisonMessageError(f"notification {position}: unknown event type {topic!r}")
        try:
            return self._decode(row)
        except SchemaVersionTooNewError as e:
            raise PoisonMessageError(f"notification {position}: {e}") from None
        except Exception as e:  # the stored bytes are not an event this code can read
            raise PoisonMessageError(
                f"notification {position} ({topic}) cannot be decoded: {type(e).__name__}: {e}"
            ) from None
