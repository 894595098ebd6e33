"""Where projections read events from: the event store's log, or the Kafka topic.

Both give the runner :class:`~projections.engine.Message` values with a
partition and an offset; the runner stores ``next_offset`` (the offset after
the last message it consumed) per partition with the rows.

* :class:`EmbeddedSource` reads the event store's notification log directly:
  one partition (0), offset = notification id. The log is commit-ordered and
  may have gaps (rolled-back inserts); gaps are simply never read.
* :class:`KafkaSource` reads the event topic with aiokafka: one consumer group
  per projection, offsets from SQL (never from Kafka), so a new projection
  starts at offset zero by itself.

A message that cannot be decoded (garbage, an unknown event type, a schema
version newer than the code) becomes a poison :class:`Message` (``event`` is
None, ``error`` says why) and goes through the projection's error policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from adapters.envelope import PoisonMessageError, decode
from adapters.stored_events import OrderShare, StoredLog, StoredRow, decoder_for
from domain.application import Orders
from domain.events import EVENT_TYPES, EventRecord, SchemaVersionTooNewError
from projections.engine import Message

log = logging.getLogger(__name__)


class SourceUnavailableError(RuntimeError):
    """The source cannot give what was asked (no such topic, a notification gone)."""

EMBEDDED_PARTITION = 0
FETCH_MAX_BYTES = 16 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 2 * 1024 * 1024


# ---------------------------------------------------------------- embedded


class EmbeddedSource:
    """The ``Orders`` notification log as one partition (offset = notification id).

    Given a ``share``, :meth:`read` gives only the events of the orders in
    that share (a worker of a split rebuild, see adapters.parallel_replay).
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
        # only when one is written (see read_models.insert_dead_letters).
        try:
            record = self.record(row)
        except PoisonMessageError as e:
            return Message(EMBEDDED_PARTITION, row[0], None, payload=row[4], error=str(e), key=row[1])
        return Message(EMBEDDED_PARTITION, row[0], record)

    def record(self, row: StoredRow) -> EventRecord:
        """The plain record of a notification, in the current schema.

        Read straight from the stored JSON (``adapters.stored_events``, the
        relay's decoder: no domain object is built). Anything it cannot read
        (an unknown event type, a schema version newer than the code, bytes
        that are not an event) is a poison message.
        """
        position, topic = row[0], row[3]
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


# ------------------------------------------------------------------- Kafka


def group_id(projection: str, topic: str) -> str:
    """The projection's consumer group on ``topic``.

    The topic is part of the name so that deployments (or test runs) on
    different topics of one cluster never share, and so never stall, a group.
    """
    return f"orderstream.projection.{projection}.{topic}"


def message_of(record: ConsumerRecord) -> Message:
    """A Kafka record as a :class:`Message` (poison if its value cannot be decoded)."""
    try:
        event, _position = decode(record.value)
    except PoisonMessageError as e:
        # The key (the order id it was sent under) lets a poison message block its order.
        return Message(record.partition, record.offset, None, payload=record.value, error=str(e), key=_text(record.key))
    return Message(record.partition, record.offset, event, payload=record.value)


def decode_payload(partition: int, offset: int, payload: bytes | None) -> Message:
    """A dead letter's stored message value decoded again (a retry after an upgrade)."""
    try:
        event, _position = decode(payload)
    except PoisonMessageError as e:
        return Message(partition, offset, None, payload=payload, error=str(e))
    return Message(partition, offset, event, payload=payload)


def _text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode()
    except UnicodeDecodeError:
        return None


class KafkaSource:
    """The event topic; consumers are made per projection (and per rebuild)."""

    def __init__(self, bootstrap: str, topic: str, *, max_records: int = 5000) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_records = max_records

    def consumer(self, group: str | None) -> AIOKafkaConsumer:
        """A consumer that never commits by itself and starts at offset zero by default."""
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            # Fetches of a few thousand messages per partition: catch-up and
            # rebuild read history in bulk, and the records buffered stay a
            # few MB (at 8 MB per partition they were ~100 MB of a rebuild
            # worker's memory, for no measurable speed).
            fetch_max_bytes=FETCH_MAX_BYTES,
            max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
        )

    async def partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            raise SourceUnavailableError(
                f"Kafka topic {self.topic!r} does not exist at {self.bootstrap} (has the relay run?)"
            )
        return [TopicPartition(self.topic, p) for p in sorted(parts)]

    async def end_offsets(self) -> dict[int, int]:
        consumer = self.consumer(None)
        try:
            await consumer.start()
            tps = await self.partitions(consumer)
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {tp.partition: int(o) for tp, o in ends.items()}


class SeekToStoredOffsets(ConsumerRebalanceListener):
    """On assignment, seek every partition to the offset stored in SQL (0 if none).

    Explicit seeks always: ``seek_to_committed`` would skip offset 0 (aiokafka
    issue 1003), and Kafka's committed offsets are only a copy for lag tools.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        load_offsets: Callable[[], Mapping[int, int]],
        on_assigned: Callable[[Mapping[int, int]], None] = lambda _: None,
    ) -> None:
        self.consumer = consumer
        self.load_offsets = load_offsets
        self.on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Nothing to hand over: every batch is committed to SQL before the next fetch.
        return None

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        offsets = await asyncio.to_thread(self.load_offsets)
        for tp in assigned:
            self.consumer.seek(tp, offsets.get(tp.partition, 0))
        self.on_assigned(offsets)
        log.info("assigned %s", sorted(tp.partition for tp in assigned))
