"""The relay's outer loop: provision the topic, start a producer, run the pipeline, restart after failures.

Guarantees (with :mod:`adapters.relay.pipeline`): at-least-once and per-key
order. The checkpoint is read at start and written only after Kafka
acknowledged everything up to it, every ``checkpoint_every`` seconds while it
moves and once when a producer's run ends; every producer starts from the
checkpoint, so a failure or a crash re-publishes a tail and skips nothing.
Kafka being unusable is retried with backoff (one :class:`Retrier` for topic
provisioning, producer start and publishing); with ``once`` the relay gives up
after ``once_patience`` seconds, keeping its checkpoint. SIGTERM (``stop``)
lets the batch being sent finish and waits up to ``shutdown_grace`` for acks.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from adapters.config import Settings
from adapters.eventstore.log import StoredLog
from adapters.kafka.topics import FiniteRetentionError, TopicProvisioningError, ensure_topic
from adapters.relay.messages import OutgoingMessage, encoder_for, messages_of
from adapters.relay.pipeline import Pipeline, Progress, PublishError
from adapters.relay.positions import CheckpointStore
from adapters.relay.retry import Retrier, describe
from adapters.relay.tuning import RelayTuning
from adapters.relay.wakers import Waker, make_waker
from domain.application import Orders

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

log = logging.getLogger(__name__)

__all__ = ["KafkaUnavailableError", "PublishError", "Relay", "RelayReport", "RelayTuning"]


@dataclass
class RelayReport(Progress):
    """What a run did: its checkpoint, the messages published and the producers restarted."""

    producer_restarts: int = 0


class KafkaUnavailableError(RuntimeError):
    """With ``once``: Kafka stayed unusable for too long; the checkpoint is kept."""


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
                    await self._publish(producer, stop, target)
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

    async def _publish(self, producer: AIOKafkaProducer, stop: asyncio.Event, target: int | None) -> None:
        """Run the pipeline on ``producer`` while the checkpoint is saved periodically, and once at the end."""
        pipeline = Pipeline(producer, self.topic, self._read_after, self.waker, self.tuning, self.report)
        pumping = asyncio.create_task(pipeline.run(stop, target), name="relay-pipeline")
        saver = asyncio.create_task(self._save_periodically(), name="relay-checkpoints")
        try:
            await asyncio.wait({pumping, saver}, return_when=asyncio.FIRST_COMPLETED)
            if saver.done():
                saver.result()  # the checkpoint store failed
            await pumping
        finally:
            for task in (pumping, saver):
                if not task.done():
                    task.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            [saved] = await asyncio.gather(saver, return_exceptions=True)
            if isinstance(saved, Exception):
                log.warning("writing the checkpoint failed (%s); trying once more", describe(saved))
            await self._save_checkpoint()

    async def _read_after(self, after: int) -> list[OutgoingMessage]:
        return await self._in_db(self._read, after)

    def _read(self, after: int) -> list[OutgoingMessage]:
        return messages_of(self._log.read(after, self.tuning.read_limit, inclusive=False), self._encode)

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

    async def _in_db(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)


def _freeze_long_lived_objects() -> None:
    """Keep what exists at start (modules, clients, the application) out of the cyclic collector's full passes.

    The per-event allocations trigger those passes often, each walks every
    object in the process, and frozen objects are still freed by reference
    counting: see docs/benchmarks.md#relay-gc-freeze.
    """
    gc.collect()
    gc.freeze()
