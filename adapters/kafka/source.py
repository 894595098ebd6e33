"""The event topic as a projection source: consumers, record -> Message, seeks to SQL offsets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from adapters.kafka.envelope import PoisonMessageError, decode
from adapters.source import SourceUnavailableError
from projections.apply import Message

log = logging.getLogger(__name__)

FETCH_MAX_BYTES = 16 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 2 * 1024 * 1024


def group_id(projection: str, topic: str) -> str:
    """The projection's consumer group on ``topic``.

    The topic is part of the name so that deployments (or test runs) on
    different topics of one cluster never share, and so never stall, a group.
    """
    return f"orderstream.projection.{projection}.{topic}"


def message_from_record(record: ConsumerRecord) -> Message:
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
            # A few thousand messages per partition per fetch: bulk reads with
            # little buffered (docs/benchmarks.md#fetch-sizes).
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


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped: Any
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
