"""The Kafka loop: one consumer per projection in the projection's group, offsets kept in SQL.

On assignment each partition is sought to the offset stored in SQL (0 if
none): SQL holds the truth, and a new projection starts at offset zero by
itself. Batches are applied in a worker thread while the next is fetched; a
fenced batch (a rebalance moved a partition away meanwhile) is rolled back
and the consumer seeks to the offsets in SQL again. The committed offsets are
copied to Kafka now and then, for lag tools only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy import Engine

from adapters.kafka.source import KafkaSource, SeekToStoredOffsets, group_id, message_from_record
from adapters.runner.halts import HaltWatch, halt_message
from adapters.runner.stats import RunStats
from adapters.runner.worker import LiveBatchWriter
from adapters.sql.checkpoints import FencedError
from projections.apply import (
    BatchResult,
    Message,
)
from projections.contract import Projection

log = logging.getLogger(__name__)
# The committed SQL offsets are copied to Kafka (for lag tools) at most this
# often, and at the end (see docs/benchmarks.md#offset-copies).
KAFKA_COPY_INTERVAL = 1.0
KAFKA_LAST_COPY_TIMEOUT = 5.0  # seconds the last copy may take when the runner stops


def run_kafka(
    engine: Engine,
    source: KafkaSource,
    projections: Sequence[type[Projection]],
    until_caught_up: bool,
    stop: threading.Event,
    batch_size: int,
) -> RunStats:
    async def main() -> list[RunStats]:
        return list(
            await asyncio.gather(
                *(_consume_live(engine, source, p, until_caught_up, stop, batch_size) for p in projections)
            )
        )

    total = RunStats()
    for stats in asyncio.run(main()):
        total.merge(stats)
    return total


async def _consume_live(
    engine: Engine,
    source: KafkaSource,
    projection: type[Projection],
    until_caught_up: bool,
    stop: threading.Event,
    batch_size: int,
) -> RunStats:
    """One consumer in the projection's group: seek to SQL offsets on assignment, batch, commit."""
    stats = RunStats()
    worker = LiveBatchWriter(engine, projection)
    state = await asyncio.to_thread(worker.store.read_state)
    if state.halted and until_caught_up:
        stats.halted[worker.name] = halt_message(worker.name, state)
        return stats
    consumer = source.consumer(group_id(projection.name, source.topic))
    consumer.subscribe([source.topic], listener=SeekToStoredOffsets(consumer, worker.reload))
    try:
        await consumer.start()
        ends: dict[int, int] | None = None
        if until_caught_up:
            tps = await source.partitions(consumer)
            ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        live = _LiveConsumer(consumer, source.topic, worker, stats, HaltWatch(worker.store, state))
        await live.run(stop, ends, batch_size)
    finally:
        await consumer.stop()
    return stats


class _LiveConsumer:
    """The loop of one group member: fetch, apply in a thread, copy offsets to Kafka, watch for halts.

    Pipelined: the batch in flight is applied in a worker thread while the
    next one is fetched and decoded, and settled before anything else. The
    committed offsets are copied to Kafka in the background as
    :class:`OffsetCopySchedule` schedules them, one copy at a time, its errors
    raised at the next copy; a clean stop copies the last offsets, within
    ``KAFKA_LAST_COPY_TIMEOUT`` (a failure then is logged: SQL holds them).
    """

    def __init__(
        self, consumer: AIOKafkaConsumer, topic: str, worker: LiveBatchWriter, stats: RunStats, watch: HaltWatch
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.worker = worker
        self.stats = stats
        self.watch = watch
        self.inflight: asyncio.Future[BatchResult] | None = None
        self.copying: asyncio.Future[bool] | None = None
        self.copies = OffsetCopySchedule(KAFKA_COPY_INTERVAL)
        self.copying_offsets: dict[int, int] = {}

    async def run(self, stop: threading.Event, ends: Mapping[int, int] | None, batch_size: int) -> None:
        """Until ``stop`` (or, given ``ends``, until caught up with them, or halted)."""
        clean = False
        try:
            while not stop.is_set():
                self._copy_to_kafka()  # also when idle: what the last batch committed reaches Kafka
                if self.watch.halted:
                    if ends is not None:
                        break
                    await self._wait_for_resume()
                    continue
                if await self._halted_elsewhere():
                    continue
                messages = await self._fetch(batch_size, timeout_ms=200)
                if self.inflight is not None:
                    if not await self._settle():
                        continue  # fenced or halted: what was fetched meanwhile is dropped
                    if messages and len(messages) < batch_size:
                        # What arrived while the previous batch was applied goes
                        # into this one, not the next: a live event waits for
                        # at most one batch ahead of it (each partition's
                        # records stay in offset order).
                        messages += await self._fetch(batch_size - len(messages), timeout_ms=0)
                if messages:
                    self.inflight = asyncio.ensure_future(asyncio.to_thread(self.worker.process, messages))
                    continue
                if ends is not None:
                    assigned = [tp.partition for tp in self.consumer.assignment()]
                    if assigned and self.worker.caught_up(ends, assigned):
                        break
            clean = True
        finally:
            if self.inflight is not None:
                await self._settle()  # a stop finishes (commits) the batch in hand
        if clean:
            await self._last_copy()

    async def _fetch(self, max_records: int, timeout_ms: int) -> list[Message]:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [message_from_record(r) for records in batch.values() for r in records]

    async def _settle(self) -> bool:
        """Wait for the batch in flight; False if what was fetched after it must be dropped."""
        assert self.inflight is not None
        future, self.inflight = self.inflight, None
        name = self.worker.name
        try:
            result = await future
        except FencedError as e:
            log.info("%s: fenced (%s); seeking to the offsets in SQL", name, e)
            self.stats.fenced += 1
            await _reseek(self.consumer, self.worker)
            return False
        self.stats.add(result)
        self.copies.committed(result.next_offsets)
        self._copy_to_kafka(now=result.halt is not None)
        if result.halt is not None:
            halted_state = await asyncio.to_thread(self.watch.halt)
            self.stats.halted[name] = halt_message(name, halted_state)
            log.error("%s", self.stats.halted[name])
            return False
        return True

    def _copy_to_kafka(self, now: bool = False) -> None:
        """Start copying the offsets :class:`OffsetCopySchedule` says are due, unless a copy runs.

        With ``now``, every offset waiting is due.
        """
        if self.copying is not None:
            if not self.copying.done():
                return
            copying, self.copying = self.copying, None
            if not copying.result():  # a copy that raised raises here
                self.copies.failed(self.copying_offsets)
        offsets = self.copies.due(now)
        if offsets:
            self.copying_offsets = offsets
            self.copying = asyncio.ensure_future(_commit_to_kafka(self.consumer, self.topic, offsets))

    async def _last_copy(self) -> None:
        """Copy what is left to Kafka and wait for it, briefly: Kafka may be gone, and SQL holds the offsets."""

        async def copy_the_rest() -> None:
            if self.copying is not None:
                await asyncio.wait({self.copying})
            self._copy_to_kafka(now=True)
            if self.copying is not None:
                await self.copying

        try:
            await asyncio.wait_for(copy_the_rest(), KAFKA_LAST_COPY_TIMEOUT)
        except (TimeoutError, KafkaError) as e:
            log.warning(
                "%s: last offsets not copied to Kafka (%s); SQL holds them", self.worker.name, str(e) or "timed out"
            )

    async def _wait_for_resume(self) -> None:
        """Halted: every few seconds, see whether a retry or skip set the projection running again."""
        if self.watch.due():
            if not (await asyncio.to_thread(self.watch.check)).halted:
                self.stats.halted.pop(self.worker.name, None)
                await _reseek(self.consumer, self.worker)
                return
        await asyncio.sleep(0.2)

    async def _halted_elsewhere(self) -> bool:
        """Every few seconds: did another member of the group halt the projection?"""
        if not self.watch.due():
            return False
        current = await asyncio.to_thread(self.watch.check)
        if not current.halted:
            return False
        if self.inflight is not None:
            await self._settle()
        self.stats.halted[self.worker.name] = halt_message(self.worker.name, current)
        return True


async def _reseek(consumer: AIOKafkaConsumer, worker: LiveBatchWriter) -> None:
    offsets = await asyncio.to_thread(worker.reload)
    for tp in consumer.assignment():
        consumer.seek(tp, offsets.get(tp.partition, 0))


class OffsetCopySchedule:
    """Which committed offsets to copy to Kafka, and when (no I/O: the runner does the copying).

    The newest offset of each partition since the last copy waits here; it
    is due once ``interval`` seconds have passed since the last copy began
    (at once the first time, or when asked ``now``). The offsets of a copy
    that failed wait again, unless newer ones came meanwhile.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.waiting: dict[int, int] = {}
        self.last_copy: float | None = None

    def committed(self, offsets: Mapping[int, int]) -> None:
        self.waiting.update(offsets)

    def due(self, now: bool = False) -> dict[int, int]:
        """The offsets to copy now (taken out of waiting); empty if none, or not yet time."""
        at = self.clock()
        if not self.waiting or not (now or self.last_copy is None or at - self.last_copy >= self.interval):
            return {}
        offsets, self.waiting = self.waiting, {}
        self.last_copy = at
        return offsets

    def failed(self, offsets: Mapping[int, int]) -> None:
        for partition, offset in offsets.items():
            self.waiting.setdefault(partition, offset)


async def _commit_to_kafka(consumer: AIOKafkaConsumer, topic: str, offsets: Mapping[int, int]) -> bool:
    """Copy the committed SQL offsets to Kafka, for lag tools (SQL stays the truth); False if refused."""
    assigned = consumer.assignment()
    commit = {TopicPartition(topic, p): o for p, o in offsets.items() if TopicPartition(topic, p) in assigned}
    if not commit:
        return True
    try:
        await consumer.commit(commit)
    except (CommitFailedError, IllegalStateError) as e:
        # A rebalance is under way; the offsets wait for the next copy.
        log.warning("offsets not copied to Kafka this time (%s); SQL holds them", e)
        return False
    return True
