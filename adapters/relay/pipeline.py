"""All of the relay's batching: read batches -> record batches -> in flight -> the acknowledged prefix.

Three units, each bounded by a knob of :class:`RelayTuning`:

- a :class:`ReadBatch`: up to ``read_limit`` messages read from the log in
  one select, in log order;
- a :class:`RecordBatch`: one partition's records of a read batch, up to
  ``max_batch_size`` bytes, handed to the producer whole and answered by one
  future (a full one is sent at once and another started);
- :class:`InFlight`: the read batches sent but not yet settled, at most
  ``max_in_flight_batches`` of them, settled in log order.

Ordering: a key goes to the partition ``producer.send`` would choose
(:class:`KeyPartitioner`), and a partition's record batches are handed over
in log order, so the idempotent producer writes each key's events in log
order. At-least-once: the checkpoint only ever moves to the end of the
acknowledged prefix, the last position before the first message Kafka did not
acknowledge; everything after it is published again by the next producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from adapters.kafka.partitioner import KeyPartitioner
from adapters.relay.messages import OutgoingMessage
from adapters.relay.retry import describe
from adapters.relay.tuning import RelayTuning
from adapters.relay.wakers import Waker

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Kafka did not take a message; the relay restarts its producer from the checkpoint."""


# ---- the producer, as the pipeline uses it ----------------------------------


class RecordBuilder(Protocol):
    """aiokafka's ``BatchBuilder``, as the pipeline uses it."""

    def append(
        self, *, timestamp: float | None, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> object | None:
        """Add a record; None when it does not fit (the batch is full)."""


class Producer(Protocol):
    """What the pipeline uses of ``AIOKafkaProducer`` (a fake one drives it in unit tests)."""

    def create_batch(self) -> RecordBuilder:
        """An empty record batch."""

    async def send_batch(self, batch: RecordBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        """Queue ``batch`` for ``partition``; the future is set when Kafka answered for it."""

    async def partitions_for(self, topic: str) -> set[int]:
        """The topic's partitions."""


# ---- the three units ---------------------------------------------------------


class Ack(NamedTuple):
    """Kafka's answer for one record batch: the position of its first message, and whether it was acknowledged."""

    position: int
    ok: bool


class RecordBatch:
    """One partition's records of a read batch, up to ``max_batch_size`` bytes; one future once sent."""

    __slots__ = ("partition", "builder", "positions", "future")

    def __init__(self, partition: int, builder: RecordBuilder) -> None:
        self.partition = partition
        self.builder = builder
        self.positions: list[int] = []  # of its messages, in log order
        self.future: asyncio.Future[Any] | None = None  # set when handed to the producer

    @property
    def acknowledged(self) -> bool:
        f = self.future
        return f is not None and f.done() and not f.cancelled() and f.exception() is None

    def ack(self) -> Ack:
        return Ack(self.positions[0], self.acknowledged)


@dataclass(slots=True)
class ReadBatch:
    """Up to ``read_limit`` messages read from the log in one select (in log order), and their record batches."""

    messages: list[OutgoingMessage]
    record_batches: list[RecordBatch] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.messages[-1].position

    def positions(self) -> list[int]:
        return [m.position for m in self.messages]

    def acks(self) -> list[Ack]:
        return [b.ack() for b in self.record_batches]


class InFlight:
    """The read batches sent but not yet settled, in log order: at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._sent: asyncio.Queue[ReadBatch | None] = asyncio.Queue()

    async def reserve(self) -> None:
        """Wait until one more read batch may be sent."""
        await self._slots.acquire()

    def add(self, batch: ReadBatch) -> None:
        """``batch`` was sent (in the slot :meth:`reserve` gave)."""
        self._sent.put_nowait(batch)

    def close(self) -> None:
        """Nothing more will be sent: :meth:`next` returns None after the last batch."""
        self._sent.put_nowait(None)

    async def next(self) -> ReadBatch | None:
        """The oldest read batch not yet settled (None once closed and drained)."""
        return await self._sent.get()

    def settled(self) -> None:
        """The batch :meth:`next` gave is settled: its slot is free."""
        self._slots.release()


# ---- the arithmetic ----------------------------------------------------------


def checkpoint_after(checkpoint: int, positions: Sequence[int], acks: Iterable[Ack]) -> int:
    """The checkpoint once a read batch is settled: the last position of its acknowledged prefix.

    ``positions`` are the read batch's, in log order; ``acks`` one per record
    batch it was sent in. A failed record batch stops the advance before its
    first message, even if later ones were acknowledged: the checkpoint
    promises that *everything* up to it is in Kafka.
    """
    if positions and positions[0] <= checkpoint:
        raise ValueError(f"positions must increase past the checkpoint {checkpoint}, got {positions[0]}")
    if any(later <= earlier for earlier, later in zip(positions, positions[1:], strict=False)):
        raise ValueError(f"positions must increase, got {list(positions)[:10]}...")
    first_failed = min((a.position for a in acks if not a.ok), default=None)
    end = len(positions) if first_failed is None else bisect_left(positions, first_failed)
    return positions[end - 1] if end else checkpoint


async def send_read_batch(
    producer: Producer, topic: str, partition_of: Callable[[bytes], int], batch: ReadBatch
) -> None:
    """Hand ``batch`` to the producer as one record batch per partition (more when one is full).

    The record batches are added to ``batch.record_batches`` in the order they
    were started. Same idempotent, ordered delivery as ``producer.send``,
    without a future and a coroutine per message (see
    docs/benchmarks.md#relay-tuning); keys are partitioned as ``producer.send``
    would (``partition_of``).
    """
    open_batches: dict[int, RecordBatch] = {}
    record_batches = batch.record_batches
    for m in batch.messages:
        p = partition_of(m.key)
        current = open_batches.get(p)
        if current is None or current.builder.append(
            timestamp=None, key=m.key, value=m.value, headers=m.headers
        ) is None:
            if current is not None:
                current.future = await producer.send_batch(current.builder, topic, partition=p)
            current = open_batches[p] = RecordBatch(p, producer.create_batch())
            if current.builder.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
                raise PublishError(f"notification {m.position} does not fit in one record batch")
            record_batches.append(current)
        current.positions.append(m.position)
    for p, current in open_batches.items():
        current.future = await producer.send_batch(current.builder, topic, partition=p)


# ---- the loop ----------------------------------------------------------------


@dataclass
class Progress:
    """How far the relay got: the end of the acknowledged prefix, and the messages published into it."""

    checkpoint: int
    published: int = 0


class Pipeline:
    """Publishes the log after ``progress.checkpoint`` through one producer, advancing ``progress``.

    ``read_after(position)`` reads the next read batch's messages (up to
    ``read_limit``) after ``position``; ``waker`` says when an empty log may
    have grown.
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        read_after: Callable[[int], Awaitable[list[OutgoingMessage]]],
        waker: Waker,
        tuning: RelayTuning,
        progress: Progress,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._read_after = read_after
        self._waker = waker
        self._tuning = tuning
        self.progress = progress

    async def run(self, stop: asyncio.Event, target: int | None) -> None:
        """Send read batches while earlier ones await their acks; settle them in order.

        Returns when ``stop`` is set or ``target`` is published; raises
        :class:`PublishError` (or a KafkaError) when Kafka refused a message.
        """
        in_flight = InFlight(self._tuning.max_in_flight_batches)
        acker = asyncio.create_task(self._acknowledge(in_flight), name="relay-acker")
        sender = asyncio.create_task(self._send(in_flight, stop, target), name="relay-sender")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({acker, sender, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done() and not acker.done():
                # Let the batch being handed over finish, so the checkpoint covers all
                # that was sent (unless Kafka is so slow that send() itself blocks).
                await asyncio.wait({sender, acker}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            if not sender.done():
                # The acker failed, or send() is blocked. Messages the sender handed
                # to the producer but not yet to the acker are after the checkpoint:
                # at worst they are published twice.
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            in_flight.close()
            if acker.done():
                acker.result()
            send_error = None if sender.cancelled() else sender.exception()
            # A --once run that sent its backlog waits for every ack (logging stalls); a stop, or a
            # failure, waits shutdown_grace at most.
            finishing_once = target is not None and send_error is None and not stop.is_set()
            grace = None if finishing_once else self._tuning.shutdown_grace
            done, _ = await asyncio.wait({acker}, timeout=grace)
            if not done:
                acker.cancel()
                await asyncio.gather(acker, return_exceptions=True)
                log.warning(
                    "Kafka did not acknowledge the in-flight messages within %.0fs; stopping at "
                    "checkpoint %d (they will be published again)", grace, self.progress.checkpoint,
                )
            else:
                acker.result()
            if send_error is not None:
                raise send_error
        finally:
            stopping.cancel()
            for task in (sender, acker):
                if not task.done():
                    task.cancel()

    async def _send(self, in_flight: InFlight, stop: asyncio.Event, target: int | None) -> None:
        position = self.progress.checkpoint
        partitioner = KeyPartitioner(sorted(await self._producer.partitions_for(self._topic)))
        prefetched: asyncio.Future[list[OutgoingMessage]] | None = None
        try:
            while not stop.is_set():
                if target is not None and position >= target:
                    return
                if prefetched is None:
                    self._waker.arm()
                    batch = ReadBatch(await self._read_after(position))
                else:
                    batch, prefetched = ReadBatch(await prefetched), None
                if not batch.messages:
                    await self._waker.wait(stop)
                    continue
                position = batch.last
                if len(batch.messages) == self._tuning.read_limit:
                    # More is waiting: read it while this batch goes to Kafka.
                    prefetched = asyncio.ensure_future(self._read_after(position))
                await in_flight.reserve()
                await send_read_batch(self._producer, self._topic, partitioner, batch)
                in_flight.add(batch)
        finally:
            if prefetched is not None:
                prefetched.cancel()

    async def _acknowledge(self, in_flight: InFlight) -> None:
        while (batch := await in_flight.next()) is not None:
            await self._settle(batch)
            in_flight.settled()

    async def _settle(self, batch: ReadBatch) -> None:
        """Wait for Kafka's answer to every record batch of ``batch``, then move the checkpoint."""
        waiting: set[asyncio.Future[Any]] = set()
        for b in batch.record_batches:
            assert b.future is not None  # sent by send_read_batch before the batch went in flight
            waiting.add(b.future)
        started = time.monotonic()
        attempt = 0
        while waiting:
            timeout = self._tuning.stall_log_after if attempt == 0 else self._tuning.backoff.delay(attempt + 3)
            _, waiting = await asyncio.wait(waiting, timeout=timeout)
            if waiting:
                attempt += 1
                unacked = sum(len(b.positions) for b in batch.record_batches if b.future in waiting)
                log.warning(
                    "Kafka has not acknowledged %d of %d messages for %.0fs (broker unreachable?); "
                    "producer retrying, checkpoint stays at %d",
                    unacked, len(batch.messages), time.monotonic() - started, self.progress.checkpoint,
                )
        positions = batch.positions()
        new = checkpoint_after(self.progress.checkpoint, positions, batch.acks())
        if new != self.progress.checkpoint:
            self.progress.published += bisect_right(positions, new)
            self.progress.checkpoint = new  # written by the relay's checkpoint saver
        failed = next((b.future for b in batch.record_batches if not b.acknowledged), None)
        if failed is not None:
            reason = "cancelled" if failed.cancelled() else describe(failed.exception())
            raise PublishError(f"Kafka refused a message after notification {new}: {reason}")
