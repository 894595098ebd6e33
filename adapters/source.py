"""What the projection runner reads from: a source of messages with a partition and an offset.

Two sources give the runner :class:`~projections.apply.Message` values:
``adapters.eventstore.source.EmbeddedSource`` (the event store's log as one
partition, offset = notification id) and ``adapters.kafka.source.KafkaSource``
(the event topic, one consumer group per projection). Either way the runner
stores ``next_offset`` (the offset after the last message it consumed) per
partition with the rows, in SQL.
"""


class SourceUnavailableError(RuntimeError):
    """The source cannot give what was asked (no such topic, a notification gone)."""
