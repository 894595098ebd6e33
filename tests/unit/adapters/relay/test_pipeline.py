"""The relay's batching, driven by a fake producer: order, partitions, in-flight bound, the acknowledged prefix.

No broker and no sockets: :class:`FakeProducer` implements the pipeline's
``Producer`` port, keeps every record batch it is handed, and answers for it
when the test says (or at once, with ``auto_ack``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.kafka.partitioner import KeyPartitioner
from adapters.relay.messages import OutgoingMessage
from adapters.relay.pipeline import (
    Ack,
    Pipeline,
    Producer,
    Progress,
    PublishError,
    RecordBuilder,
    checkpoint_after,
)
from adapters.relay.tuning import RelayTuning
from adapters.relay.wakers import Waker

TOPIC = "orders.events"
PARTITIONS = [0, 1, 2]


# ---- fakes ---------------------------------------------------------------------------------------


class FakeRecordBatch(RecordBuilder):
    """Holds records up to ``capacity`` bytes of key and value; refuses one that does not fit, even the first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes, bytes]] = []
        self.size = 0

    def append(self, *, timestamp, key, value, headers):
        if self.size + len(key) + len(value) > self.capacity:
            return None
        self.records.append((key, value))
        self.size += len(key) + len(value)
        return object()

    def positions(self) -> list[int]:
        return [int(value) for _, value in self.records]


@dataclass
class Sent:
    partition: int
    batch: FakeRecordBatch
    future: asyncio.Future


@dataclass
class FakeProducer(Producer):
    capacity: int = 1 << 20
    auto_ack: bool = True
    sent: list[Sent] = field(default_factory=list)

    def create_batch(self) -> FakeRecordBatch:
        return FakeRecordBatch(self.capacity)

    async def send_batch(self, batch, topic, *, partition):
        assert topic == TOPIC
        future = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            future.set_result(None)
        self.sent.append(Sent(partition, batch, future))
        return future

    async def partitions_for(self, topic):
        return set(PARTITIONS)

    def sent_positions(self) -> list[int]:
        return [p for s in self.sent for p in s.batch.positions()]

    def unanswered(self) -> list[Sent]:
        return [s for s in self.sent if not s.future.done()]


class NeverWakes(Waker):
    async def wait(self, stop: asyncio.Event) -> None:
        await stop.wait()


def message(position: int, key: str, size: int = 0) -> OutgoingMessage:
    """A message whose value is its position (padded to ``size`` bytes), so the fake can tell them apart."""
    return OutgoingMessage(position, key.encode(), str(position).zfill(size).encode(), [])


def log_of(count: int, keys: int = 7, first: int = 1) -> list[OutgoingMessage]:
    return [message(p, f"order-{p % keys}") for p in range(first, first + count)]


class Run:
    """A pipeline over ``log`` on a fake producer, as a task on the running loop."""

    def __init__(self, log: list[OutgoingMessage], producer: FakeProducer, checkpoint: int = 0, **tuning) -> None:
        self.log = log
        self.producer = producer
        self.tuning = RelayTuning(**{"read_limit": 10, "stall_log_after": 3600, **tuning})
        self.progress = Progress(checkpoint=checkpoint)
        self.stop = asyncio.Event()
        target = log[-1].position if log else checkpoint
        pipeline = Pipeline(producer, TOPIC, self.read_after, NeverWakes(), self.tuning, self.progress)
        self.task = asyncio.create_task(pipeline.run(self.stop, target))

    async def read_after(self, position: int) -> list[OutgoingMessage]:
        return [m for m in self.log if m.position > position][: self.tuning.read_limit]


def run(log: list[OutgoingMessage], producer: FakeProducer | None = None, **tuning) -> Progress:
    """Publish ``log`` to the end with a producer that acknowledges everything."""

    async def go() -> Progress:
        r = Run(log, producer or FakeProducer(), **tuning)
        await r.task
        return r.progress

    return asyncio.run(go())


async def until_quiet() -> None:
    """Let every task run until all wait on something the test controls."""
    for _ in range(200):
        await asyncio.sleep(0)


def per_key(producer: FakeProducer) -> dict[bytes, list[int]]:
    """Each key's positions in the order its partition received them (sends are in order per partition)."""
    keys: dict[bytes, list[int]] = defaultdict(list)
    for s in producer.sent:
        for key, value in s.batch.records:
            keys[key].append(int(value))
    return keys


# ---- ordering and partitions ------------------------------------------------------------------


def test_every_message_is_sent_once():
    producer = FakeProducer()
    log = log_of(95)
    run(log, producer)
    assert sorted(producer.sent_positions()) == [m.position for m in log]


def test_a_keys_messages_keep_log_order_across_record_batches():
    producer = FakeProducer(capacity=60)  # a few messages per record batch
    log = log_of(40, keys=3)
    run(log, producer, read_limit=40)
    assert len(producer.sent) > 3
    assert per_key(producer) == {k: sorted(v) for k, v in per_key(producer).items()}


def test_a_keys_messages_keep_log_order_across_read_batches():
    producer = FakeProducer()
    log = log_of(40, keys=3)
    run(log, producer, read_limit=4)
    assert per_key(producer) == {k: sorted(v) for k, v in per_key(producer).items()}


def test_keys_go_to_the_partitions_key_partitioner_chooses():
    producer = FakeProducer()
    run(log_of(60, keys=20), producer)
    partition_of = KeyPartitioner(PARTITIONS)
    assert all(s.partition == partition_of(key) for s in producer.sent for key, _ in s.batch.records)


def test_a_full_record_batch_is_sent_and_another_started():
    producer = FakeProducer(capacity=3 * len(b"order-0" + b"10"))
    run([message(p, "order-0") for p in range(10, 17)], producer, read_limit=7)
    assert [s.batch.positions() for s in producer.sent] == [[10, 11, 12], [13, 14, 15], [16]]


def test_a_message_larger_than_max_batch_size_is_a_publish_error():
    producer = FakeProducer(capacity=100)
    with pytest.raises(PublishError, match="notification 2 does not fit in one record batch"):
        run([message(1, "order-1"), message(2, "order-2", size=200)], producer)


# ---- the in-flight bound ---------------------------------------------------------------------


def test_no_more_than_max_in_flight_batches_are_sent_unacknowledged():
    async def go() -> list[int]:
        producer = FakeProducer(auto_ack=False)
        r = Run(log_of(50, keys=1), producer, read_limit=5, max_in_flight_batches=3)
        await until_quiet()
        sent = producer.sent_positions()
        r.task.cancel()
        return sent

    assert asyncio.run(go()) == list(range(1, 16))


def test_settling_the_oldest_read_batch_lets_one_more_be_sent():
    async def go() -> list[int]:
        producer = FakeProducer(auto_ack=False)
        r = Run(log_of(50, keys=1), producer, read_limit=5, max_in_flight_batches=3)
        await until_quiet()
        producer.sent[0].future.set_result(None)
        await until_quiet()
        sent = producer.sent_positions()
        r.task.cancel()
        return sent

    assert asyncio.run(go()) == list(range(1, 21))


# ---- the acknowledged prefix -----------------------------------------------------------------


def test_the_checkpoint_moves_to_the_last_position_when_everything_is_acknowledged():
    assert run(log_of(95), read_limit=10).checkpoint == 95


def test_published_counts_every_acknowledged_message():
    assert run(log_of(95), read_limit=10).published == 95


def test_acks_arriving_out_of_order_move_the_checkpoint_to_the_end():
    async def go() -> Progress:
        producer = FakeProducer(auto_ack=False)
        r = Run(log_of(30, keys=5), producer, read_limit=30)
        await until_quiet()
        for s in reversed(producer.sent):
            s.future.set_result(None)
            await until_quiet()
        await r.task
        return r.progress

    assert asyncio.run(go()).checkpoint == 30


def test_no_checkpoint_moves_before_every_record_batch_of_the_read_batch_is_acknowledged():
    async def go() -> int:
        producer = FakeProducer(auto_ack=False)
        r = Run(log_of(30, keys=5), producer, read_limit=30)
        await until_quiet()
        for s in producer.sent[1:]:
            s.future.set_result(None)
        await until_quiet()
        checkpoint = r.progress.checkpoint
        r.task.cancel()
        return checkpoint

    assert asyncio.run(go()) == 0


def failing_record_batch(log: list[OutgoingMessage], failed_partition: int, **tuning) -> tuple[Progress, FakeProducer]:
    """Publish ``log``; Kafka refuses the record batch of ``failed_partition``, acknowledging all others first."""

    async def go() -> tuple[Progress, FakeProducer]:
        producer = FakeProducer(auto_ack=False)
        r = Run(log, producer, **tuning)
        await until_quiet()
        for s in producer.sent:
            if s.partition != failed_partition:
                s.future.set_result(None)
        await until_quiet()
        for s in producer.unanswered():
            s.future.set_exception(OSError("NotEnoughReplicas"))
        with pytest.raises(PublishError, match="Kafka refused a message after notification"):
            await r.task
        return r.progress, producer

    return asyncio.run(go())


def test_a_failed_record_batch_stops_the_checkpoint_before_its_first_message_even_if_later_ones_were_acknowledged():
    log = log_of(30, keys=5)
    partition_of = KeyPartitioner(PARTITIONS)
    failed = partition_of(log[6].key)
    first_failed = next(m.position for m in log if partition_of(m.key) == failed)
    assert any(partition_of(m.key) != failed and m.position > first_failed for m in log)  # acknowledged later
    progress, _ = failing_record_batch(log, failed, read_limit=30)
    assert progress.checkpoint == first_failed - 1


def test_published_counts_only_the_acknowledged_prefix():
    log = log_of(30, keys=5)
    failed = KeyPartitioner(PARTITIONS)(log[6].key)
    progress, _ = failing_record_batch(log, failed, read_limit=30)
    assert progress.published == progress.checkpoint


def test_a_failed_read_batch_keeps_the_checkpoint_of_the_read_batches_before_it():
    log = log_of(30, keys=1)  # one key: one partition, one record batch per read batch

    async def go() -> Progress:
        producer = FakeProducer(auto_ack=False)
        r = Run(log, producer, read_limit=10, max_in_flight_batches=3)
        await until_quiet()
        producer.sent[0].future.set_result(None)
        producer.sent[1].future.set_exception(OSError("NotEnoughReplicas"))
        await until_quiet()
        producer.sent[2].future.set_result(None)
        with pytest.raises(PublishError):
            await r.task
        return r.progress

    assert asyncio.run(go()).checkpoint == 10


def test_a_stop_lets_the_batch_being_handed_over_finish_and_the_checkpoint_covers_all_that_was_sent():
    async def go() -> tuple[Progress, list[int]]:
        producer = FakeProducer(auto_ack=False)
        r = Run(log_of(50, keys=1), producer, read_limit=5, max_in_flight_batches=3)
        await until_quiet()
        r.stop.set()
        while not r.task.done():
            for s in producer.unanswered():
                s.future.set_result(None)
            await until_quiet()
        await r.task
        return r.progress, producer.sent_positions()

    progress, sent = asyncio.run(go())
    assert (progress.checkpoint, sent) == (20, list(range(1, 21)))


# ---- checkpoint_after, the arithmetic --------------------------------------------------------


def test_a_fully_acknowledged_batch_moves_the_checkpoint_to_its_last_position():
    assert checkpoint_after(10, [11, 12, 15], [Ack(11, True)]) == 15


def test_gaps_in_notification_ids_do_not_hold_the_checkpoint_back():
    assert checkpoint_after(0, [1, 4, 9], [Ack(1, True)]) == 9


def test_a_failed_message_stops_the_checkpoint_before_it():
    assert checkpoint_after(10, [11, 12, 13], [Ack(11, True), Ack(12, False), Ack(13, True)]) == 11


def test_a_failed_first_message_keeps_the_checkpoint():
    assert checkpoint_after(10, [11, 12], [Ack(11, False), Ack(12, True)]) == 10


def test_a_failed_record_batch_stops_the_checkpoint_before_its_first_message():
    # Two partitions' record batches interleaved in log order: {11, 13, 15} acknowledged, {12, 14, 16} not.
    assert checkpoint_after(10, [11, 12, 13, 14, 15, 16], [Ack(11, True), Ack(12, False)]) == 11


def test_the_acks_of_record_batches_may_come_in_any_order():
    assert checkpoint_after(10, [11, 12, 13, 14, 15], [Ack(14, False), Ack(12, False), Ack(11, True)]) == 11


def test_an_empty_batch_keeps_the_checkpoint():
    assert checkpoint_after(7, [], []) == 7


def test_positions_at_or_before_the_checkpoint_are_refused():
    with pytest.raises(ValueError, match="increase"):
        checkpoint_after(10, [10], [Ack(10, True)])


def test_positions_out_of_log_order_are_refused():
    with pytest.raises(ValueError, match="must increase"):
        checkpoint_after(10, [11, 13, 12], [Ack(11, True)])


def per_message_prefix(checkpoint: int, positions: Sequence[int], batch_of: Sequence[int], ok: Sequence[bool]) -> int:
    """The definition, message by message in log order: stop at the first whose record batch failed."""
    for position, batch in zip(positions, batch_of, strict=True):
        if not ok[batch]:
            break
        checkpoint = position
    return checkpoint


@given(
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40),
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.randoms(use_true_random=False),
)
def test_the_checkpoint_is_the_end_of_the_acknowledged_prefix_message_by_message(gaps, batches, ok, rng):
    positions = [100 + sum(gaps[: i + 1]) for i in range(len(gaps))]
    batch_of = [batches[i % len(batches)] for i in range(len(positions))]
    first = {}
    for position, batch in zip(positions, batch_of, strict=True):
        first.setdefault(batch, position)
    acks = [Ack(position, ok[batch]) for batch, position in first.items()]
    rng.shuffle(acks)
    assert checkpoint_after(100, positions, acks) == per_message_prefix(100, positions, batch_of, ok)
