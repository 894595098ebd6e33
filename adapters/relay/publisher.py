"""The relay loop: read the log, send to Kafka, move the checkpoint after acks."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from adapters.config import Settings
from adapters.eventstore.log import StoredLog
from adapters.kafka.partitioner import KeyPartitioner
from adapters.kafka.topics import FiniteRetentionError, TopicProvisioningError, ensure_topic
from adapters.relay.messages import OutgoingMessage, checkpoint_after, encoder_for, messages_of
from adapters.relay.positions import CheckpointStore
from adapters.relay.retry import Backoff, Retrier, describe
from adapters.relay.wakers import Waker, make_waker
from domain.application import Orders

log = logging.getLogger("orderstream.relay")


@dataclass(frozen=True)
class RelayTuning:
    """Throughput knobs, measured by bench/relay.py (see docs/relay.md)."""

    read_limit: int = 2000            # notifications per select
    max_in_flight_batches: int = 8    # read batches sent but not yet acknowledged
    linger_ms: int = 2
    max_batch_size: int = 512 * 1024  # bytes per partition batch (broker limit ~1 MiB)
    request_timeout_ms: int = 40000
    backoff: Backoff = field(default_factory=Backoff)
    shutdown_grace: float = 30.0      # seconds to wait for acks after SIGTERM
    stall_log_after: float = 2.0      # seconds without acks before logging the wait
    once_patience: float = 60.0       # with --once: seconds Kafka may stay unusable before giving up
    # Seconds between checkpoint writes while publishing (and one at the end):
    # a crash re-publishes at most about this much more. One write per
    # acknowledged batch was ~100 commits/s at 200 events/s, each delaying the
    # next read on the database thread.
    checkpoint_every: float = 0.1


@dataclass
class RelayReport:
    checkpoint: int
    published: int = 0
    producer_restarts: int = 0


class KafkaUnavailableError(RuntimeError):
    """With ``once``: Kafka stayed unusable for too long; the checkpoint is kept."""


class PublishError(RuntimeError):
    """Kafka did not take a message; the relay restarts its producer from the checkpoint."""


@dataclass
class _Pending:
    positions: list[int]               # in log order
    futures: list[asyncio.Future[Any]]  # one per record batch handed to the producer
    batch_of: list[int]                # positions[i] travels in futures[batch_of[i]]


class Relay:
    """Follows the notification log of ``orders`` and publishes it to ``settings.topic``."""

    def __init__(
        self,
        settings: Settings,
        orders: Orders,
        checkpoints: CheckpointStore,
        waker: Waker | None = None,
        tuning: RelayTuning | None = None,
    ) -> None:
        self.settings = settings
        self.orders = orders
        self._log = StoredLog(orders)
        self._encode = encoder_for(orders)
        self.checkpoints = checkpoints
        self.tuning = tuning or RelayTuning()
        self.waker = waker or make_waker(settings, orders)
        self.topic = settings.topic
        self.report = RelayReport(checkpoint=0)
        self._saved = 0  # the checkpoint in the store
        # One thread for the database: eventsourcing recorders and our checkpoint
        # connection are used from it only, never from the event loop.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")

    # ---- the outer loop: (re)start, back off, stop ----------------------

    async def run(self, stop: asyncio.Event | None = None, once: bool = False) -> RelayReport:
        """Publish until ``stop`` is set (or, with ``once``, until the backlog is out)."""
        stop = stop or asyncio.Event()
        _freeze_long_lived_objects()
        retrier = Retrier(self.tuning.backoff, self.tuning.once_patience if once else None, self._unavailable)
        try:
            self.report.checkpoint = self._saved = await self._in_db(self.checkpoints.load, self.topic)
            target = None
            if once:
                target = (await self._in_db(self.orders.recorder.max_notification_id)) or 0
            if not await self._provision(stop, retrier):
                return self.report
            await self.waker.start()
            while not stop.is_set():
                if target is not None and self.report.checkpoint >= target:
                    break
                producer = self._producer()
                try:
                    await producer.start()
                except KafkaError as e:
                    await self._close_producer(producer)
                    await retrier.failed(e, stop, self._log_unreachable)
                    continue
                log.info(
                    "publishing to %s from notification %d%s",
                    self.topic, self.report.checkpoint,
                    f" up to {target}" if target is not None else "",
                )
                try:
                    await self._pump(producer, stop, target)
                    retrier.succeeded()
                except (PublishError, KafkaError) as e:
                    self.report.producer_restarts += 1
                    await retrier.failed(e, stop, self._log_restart)
                finally:
                    await self._close_producer(producer)
            log.info("stopped at checkpoint %d (%d messages published)", self.report.checkpoint, self.report.published)
            return self.report
        finally:
            await self.waker.close()
            await self._in_db(self.checkpoints.close)
            self._db.shutdown(wait=True)

    def _unavailable(self, error: BaseException) -> KafkaUnavailableError:
        """Why a ``once`` run (a job that must end) stops retrying."""
        return KafkaUnavailableError(
            f"Kafka at {self.settings.kafka_bootstrap} unusable for "
            f"{self.tuning.once_patience:.0f} s ({describe(error)}); nothing is lost: "
            f"the checkpoint stays at {self.report.checkpoint}, run again when Kafka is up"
        )

    async def _provision(self, stop: asyncio.Event, retrier: Retrier) -> bool:
        """Create or check the topic, retrying while Kafka is unreachable; False if stopped."""
        retrier.start_clock()
        while not stop.is_set():
            try:
                await ensure_topic(
                    self.settings.kafka_bootstrap, self.topic, self.settings.topic_partitions,
                    self.settings.allow_finite_retention,
                )
                retrier.succeeded()
                return True
            except (FiniteRetentionError, TopicProvisioningError):
                raise
            except (KafkaError, OSError) as e:
                await retrier.failed(e, stop, self._log_unchecked_topic)
        return False

    def _log_unchecked_topic(self, error: BaseException, retry: int, delay: float) -> None:
        log.warning(
            "cannot check topic %s on %s (%s); retry %d in %.1fs",
            self.topic, self.settings.kafka_bootstrap, describe(error), retry, delay,
        )

    def _log_unreachable(self, error: BaseException, retry: int, delay: float) -> None:
        log.warning(
            "Kafka at %s unreachable (%s); retry %d in %.1fs; checkpoint stays at %d",
            self.settings.kafka_bootstrap, describe(error), retry, delay, self.report.checkpoint,
        )

    def _log_restart(self, error: BaseException, retry: int, delay: float) -> None:
        log.warning(
            "publishing failed (%s); restarting the producer in %.1fs from checkpoint %d "
            "(retry %d; the tail after it is re-published)",
            describe(error), delay, self.report.checkpoint, retry,
        )

    def _producer(self) -> AIOKafkaProducer:
        t = self.tuning
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            client_id="orderstream-relay",
            enable_idempotence=True,
            acks="all",
            linger_ms=t.linger_ms,
            max_batch_size=t.max_batch_size,
            request_timeout_ms=t.request_timeout_ms,
        )

    async def _close_producer(self, producer: AIOKafkaProducer) -> None:
        # stop() flushes; with the broker gone that can take forever. Anything it
        # could not deliver is after the checkpoint and will be published again.
        try:
            await asyncio.wait_for(producer.stop(), timeout=5)
        except (TimeoutError, KafkaError) as e:
            log.warning("abandoned the producer without a clean stop (%s)", describe(e))

    # ---- the inner loop: read, send, acknowledge ------------------------

    async def _pump(self, producer: AIOKafkaProducer, stop: asyncio.Event, target: int | None) -> None:
        """Send read batches while earlier ones await their acks; settle them in order.

        Returns when ``stop`` is set or ``target`` is published; raises
        :class:`PublishError` (or a KafkaError) when Kafka refused a message.
        """
        queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.tuning.max_in_flight_batches)
        acker = asyncio.create_task(self._acknowledge(queue, slots), name="relay-acker")
        sender = asyncio.create_task(self._send(producer, queue, slots, stop, target), name="relay-sender")
        saver = asyncio.create_task(self._save_periodically(), name="relay-checkpoints")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({acker, sender, saver, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if saver.done():
                saver.result()  # the checkpoint store failed
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
            queue.put_nowait(None)
            if acker.done():
                acker.result()
            send_error = None if sender.cancelled() else sender.exception()
            grace = None if (target is not None and send_error is None and not stop.is_set()) else self.tuning.shutdown_grace
            done, _ = await asyncio.wait({acker}, timeout=grace)
            if not done:
                acker.cancel()
                await asyncio.gather(acker, return_exceptions=True)
                log.warning(
                    "Kafka did not acknowledge the in-flight messages within %.0fs; stopping at "
                    "checkpoint %d (they will be published again)", grace, self.report.checkpoint,
                )
            else:
                acker.result()
            if send_error is not None:
                raise send_error
        finally:
            stopping.cancel()
            for task in (sender, acker, saver):
                if not task.done():
                    task.cancel()
            [saved] = await asyncio.gather(saver, return_exceptions=True)
            if isinstance(saved, Exception):
                log.warning("writing the checkpoint failed (%s); trying once more", describe(saved))
            await self._save_checkpoint()

    async def _send(
        self, producer: AIOKafkaProducer, queue: asyncio.Queue[_Pending | None],
        slots: asyncio.Semaphore, stop: asyncio.Event, target: int | None,
    ) -> None:
        position = self.report.checkpoint
        partitioner = KeyPartitioner(sorted(await producer.partitions_for(self.topic)))
        prefetched: asyncio.Future[list[OutgoingMessage]] | None = None
        try:
            while not stop.is_set():
                if target is not None and position >= target:
                    return
                if prefetched is None:
                    self.waker.arm()
                    messages = await self._read_after(position)
                else:
                    messages, prefetched = await prefetched, None
                if not messages:
                    await self.waker.wait(stop)
                    continue
                position = messages[-1].position
                if len(messages) == self.tuning.read_limit:
                    # More is waiting: read it while this batch goes to Kafka.
                    prefetched = asyncio.ensure_future(self._read_after(position))
                await slots.acquire()
                queue.put_nowait(await self._send_batch(producer, partitioner, messages))
        finally:
            if prefetched is not None:
                prefetched.cancel()

    async def _send_batch(
        self, producer: AIOKafkaProducer, partitioner: KeyPartitioner, messages: list[OutgoingMessage]
    ) -> _Pending:
        """Hand ``messages`` to the producer as one record batch per partition (and more if full).

        Same idempotent, ordered delivery as ``producer.send``, without a future
        and a coroutine per message: the per-message path costs more than the
        encoding. Keys are partitioned exactly as ``producer.send`` would.
        """
        builders: dict[int, Any] = {}
        futures: list[asyncio.Future[Any]] = []
        current: dict[int, int] = {}  # partition -> index in futures of its open builder
        batch_of: list[int] = []
        for m in messages:
            p = partitioner(m.key)
            builder = builders.get(p)
            if builder is None or builder.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
                if builder is not None:
                    futures[current[p]] = await producer.send_batch(builder, self.topic, partition=p)
                builder = builders[p] = producer.create_batch()
                if builder.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
                    raise PublishError(f"notification {m.position} does not fit in one record batch")
                current[p] = len(futures)
                futures.append(None)  # type: ignore[arg-type]
            batch_of.append(current[p])
        for p, builder in builders.items():
            futures[current[p]] = await producer.send_batch(builder, self.topic, partition=p)
        return _Pending(positions=[m.position for m in messages], futures=futures, batch_of=batch_of)

    async def _read_after(self, after: int) -> list[OutgoingMessage]:
        return await self._in_db(self._read, after)

    def _read(self, after: int) -> list[OutgoingMessage]:
        return messages_of(self._log.read(after, self.tuning.read_limit, inclusive=False), self._encode)

    async def _acknowledge(self, queue: asyncio.Queue[_Pending | None], slots: asyncio.Semaphore) -> None:
        while True:
            pending = await queue.get()
            if pending is None:
                return
            await self._settle(pending)
            slots.release()

    async def _settle(self, pending: _Pending) -> None:
        waiting = set(pending.futures)
        started = time.monotonic()
        attempt = 0
        while waiting:
            timeout = self.tuning.stall_log_after if attempt == 0 else self.tuning.backoff.delay(attempt + 3)
            _, waiting = await asyncio.wait(waiting, timeout=timeout)
            if waiting:
                attempt += 1
                unacked = sum(1 for b in pending.batch_of if pending.futures[b] in waiting)
                log.warning(
                    "Kafka has not acknowledged %d of %d messages for %.0fs (broker unreachable?); "
                    "producer retrying, checkpoint stays at %d",
                    unacked, len(pending.positions), time.monotonic() - started, self.report.checkpoint,
                )
        ok = [not f.cancelled() and f.exception() is None for f in pending.futures]
        outcomes = [(p, ok[b]) for p, b in zip(pending.positions, pending.batch_of)]
        new = checkpoint_after(self.report.checkpoint, outcomes)
        if new != self.report.checkpoint:
            self.report.published += sum(1 for p, ok in outcomes if ok and p <= new)
            self.report.checkpoint = new  # written by _save_periodically
        failed = next((f for f in pending.futures if f.cancelled() or f.exception() is not None), None)
        if failed is not None:
            reason = "cancelled" if failed.cancelled() else describe(failed.exception())
            raise PublishError(f"Kafka refused a message after notification {new}: {reason}")

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.checkpoint_every)
            await self._save_checkpoint()

    async def _save_checkpoint(self) -> None:
        """Write the acknowledged checkpoint if it moved since the last write."""
        checkpoint = self.report.checkpoint
        if checkpoint != self._saved:
            await self._in_db(self.checkpoints.save, self.topic, checkpoint)
            self._saved = checkpoint

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)


def _freeze_long_lived_objects() -> None:
    """Keep what exists at start (modules, clients, the application) out of the collector's passes.

    Every published event allocates a dozen containers, so the cyclic
    collector runs often, and its full passes walk every object in the
    process: freezing cut the relay's CPU time for 100,000 events from 3.31 s
    to 3.08 s (mean of 4 interleaved runs each). Frozen objects are still freed by reference counting;
    only cycles among them would outlive the process's need for them.
    """
    gc.collect()
    gc.freeze()

