"""The projection runner: source -> decode -> engine -> one SQL transaction per batch.

The same code serves both sources (see ``adapters.sources``): the loops only
receive a batch, hand it to :meth:`Worker.process` and, on Kafka, copy the
committed offsets to Kafka now and then (for lag tools; SQL holds the truth).

Python API (used by the CLI, the demo, tests and benchmarks):

* :func:`run` / :func:`run_until_caught_up` -- apply new events to projections;
* :func:`rebuild` -- replay from offset zero into shadow tables, then swap;
* :func:`status` -- versions, states, offsets, lag, errors, dead letters;
* :func:`retry` / :func:`skip` -- resolve a halted projection or dead letters.

Guarantees: each batch's rows, per-order versions, checkpoints, dead letters
and state commit together; checkpoint writes are fenced (a stale writer is
rolled back and re-reads its offsets, then seeks); a projection whose code
``version`` is newer than the version its tables were built by is rebuilt
before it runs; a rebuild swaps in only complete tables.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError

from adapters import parallel_replay as parallel
from adapters import read_models as rm
from adapters.config import ConfigurationError, Settings
from adapters.event_store import open_orders
from adapters.migrations import check_schema
from adapters.projection_registry import discover
from adapters.projection_stats import Progress, ProgressCallback, RunStats
from adapters.read_models import FencedError, SqlRows, Tables
from adapters.replay import (
    FLUSH_EVERY,
    ReplayWorker,
    fewer_collections,
    last_halt_error,
    replay_embedded,
    replay_kafka,
)
from adapters.sources import (
    EmbeddedSource,
    KafkaSource,
    SeekToStoredOffsets,
    SourceUnavailableError,
    decode_payload,
    group_id,
    message_of,
)
from domain.application import Orders
from projections import bookkeeping as bk
from projections.contract import Projection
from projections.engine import (
    BatchResult,
    Message,
    Outcome,
    RowsUnavailableError,
    apply_batch,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
DB_ATTEMPTS = 5  # a batch whose transaction fails on the database is retried this often
DB_BACKOFF = 0.2
STATE_RECHECK_SECONDS = 2.0
# The committed SQL offsets are copied to Kafka (for lag tools) at most this
# often, and at the end: one OffsetCommit per batch was ~50 requests/s at 200
# events/s, CPU in the runner and the broker for offsets no one reads sooner.
KAFKA_COPY_INTERVAL = 1.0
KAFKA_LAST_COPY_TIMEOUT = 5.0  # seconds the last copy may take when the runner stops


__all__ = [
    "ConfigurationError",
    "FencedError",
    "Progress",
    "ProjectionHaltedError",
    "ProjectionStatus",
    "RetryStats",
    "RunStats",
    "SourceUnavailableError",
    "Worker",
    "rebuild",
    "retry",
    "run",
    "run_until_caught_up",
    "skip",
    "status",
]


class ProjectionHaltedError(RuntimeError):
    """A ``halt`` projection stopped at a message it could not apply."""


# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class PartitionStatus:
    partition: int
    offset: int  # the next offset to read
    end: int  # the source's end offset now
    lag: int


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    code_version: int
    version: int | None  # the version the live tables were built by (None: never run)
    state: str  # "new", "running", "halted"
    error_policy: str
    partitions: list[PartitionStatus]
    lag: int
    last_error: str | None
    failing_event: str | None  # event id, or "PARTITION:OFFSET" for an undecodable message
    dead_letters: dict[str, int]  # status -> count
    rebuild_in_progress: bool
    rebuild_pending: bool  # the code version is newer than the tables


# ------------------------------------------------------------------ worker


class Worker:
    """The SQL side of one projection for one target (live tables or a rebuild's shadows).

    Holds the offsets it expects to find in SQL. :meth:`process` drops
    messages below them (already applied), applies the rest in one
    transaction and moves the checkpoints, fenced; on :class:`FencedError` it
    re-reads the offsets before re-raising, and the caller seeks.
    """

    def __init__(self, engine: Engine, projection: type[Projection], tables: Tables) -> None:
        self.engine = engine
        self.projection_class = projection
        self.projection = projection()
        self.name = projection.name
        self.tables = tables
        self.target = tables.target
        self.stored: dict[int, int] = {}  # checkpoints known to be in SQL
        self.halt: Message | None = None
        self._lock = threading.Lock()

    def next_offset(self, partition: int) -> int:
        return self.stored.get(partition, 0)

    def reload(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            offsets = rm.read_offsets(conn, self.name, self.target)
            conn.rollback()
        with self._lock:
            self.stored = dict(offsets)
        return offsets

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Apply ``messages`` in one transaction (retrying database failures)."""
        with self._lock:
            stored = dict(self.stored)
        fresh = [m for m in messages if m.offset >= stored.get(m.partition, 0)]
        if not fresh:
            return BatchResult()
        for attempt in range(1, DB_ATTEMPTS + 1):
            try:
                result = self._transaction(fresh, stored)
                break
            except FencedError:
                self.reload()
                raise
            except (OperationalError, RowsUnavailableError) as e:
                if attempt == DB_ATTEMPTS:
                    raise
                log.warning("%s: batch failed on the database (%s); retrying", self.name, e)
                time.sleep(DB_BACKOFF * attempt)
        with self._lock:
            for partition, offset in result.next_offsets.items():
                self.stored[partition] = offset
        if result.halt is not None:
            self.halt = result.halt.message
        return result

    def _transaction(self, messages: list[Message], stored: Mapping[int, int]) -> BatchResult:
        with self.engine.begin() as conn:
            rows = SqlRows(conn, self.tables)
            orders = {m.aggregate_id for m in messages if m.aggregate_id is not None}
            blocked = rm.open_batch(rows, self.name, self.target, orders)
            result = apply_batch(self.projection, rows, messages, blocked)
            rows.flush()
            rm.insert_dead_letters(conn, self.name, self.target, result.dead_letters)
            if result.halt is not None:
                halt = result.halt
                rm.insert_dead_letters(
                    conn, self.name, self.target, [rm.DeadLetter(halt.message, halt.error, bk.HALTED_AT)]
                )
                if self.target == bk.LIVE:
                    rm.set_halted(conn, self.name, halt)
            rm.write_offsets(
                conn,
                self.name,
                self.target,
                {p: stored.get(p) for p in result.next_offsets},
                result.next_offsets,
            )
        return result

    def caught_up(self, ends: Mapping[int, int], partitions: Iterable[int] | None = None) -> bool:
        parts = ends.keys() if partitions is None else partitions
        return all(self.next_offset(p) >= ends.get(p, 0) for p in parts)


# ---------------------------------------------------------------- helpers


def _projections(settings: Settings, projections: Sequence[type[Projection]] | None) -> list[type[Projection]]:
    return discover(settings) if projections is None else list(projections)


def _engine(settings: Settings) -> Engine:
    return rm.create_read_model_engine(settings.read_model_url, writer=True)


def _halt_message(name: str, state: rm.StateRow) -> str:
    where = state.failing_event_id or f"{state.failing_partition}:{state.failing_offset}"
    return (
        f"projection {name} is halted at {where}: {state.last_error}; fix the cause and run "
        f"`orders projections retry {name}`, or `orders projections skip {name} --event {where}`"
    )


def _prepare(engine: Engine, projection: type[Projection]) -> rm.StateRow:
    with engine.begin() as conn:
        state = rm.ensure_state(conn, projection)
    if state.version > projection.version:
        raise ConfigurationError(
            f"projection {projection.name}'s tables were built by version {state.version}, newer than "
            f"this code's version {projection.version}; run the newer orderstream, or rebuild with this one"
        )
    return state


class _Sources:
    """The configured source, opened once for a run."""

    def __init__(self, settings: Settings, orders: Orders | None) -> None:
        self.settings = settings
        self._orders = orders
        self.kafka = KafkaSource(settings.kafka_bootstrap, settings.topic) if settings.uses_kafka else None

    @property
    def orders(self) -> Orders:
        if self._orders is None:
            self._orders = open_orders(self.settings)
        return self._orders

    @property
    def embedded(self) -> EmbeddedSource:
        return EmbeddedSource(self.orders)


# --------------------------------------------------------------------- run


def run(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    *,
    until_caught_up: bool = False,
    orders: Orders | None = None,
    stop: threading.Event | None = None,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> RunStats:
    """Apply new events to ``projections`` (all discovered ones by default).

    Continuous until ``stop`` is set, or, with ``until_caught_up``, until each
    projection reaches the source's end offsets taken at the start. A
    projection whose code version is newer than its tables is rebuilt first
    (``progress`` reports that rebuild). A halted projection is not run (and
    is named in ``stats.halted``); in continuous mode it is resumed once a
    ``retry`` or ``skip`` sets it running again.
    """
    started = time.perf_counter()
    chosen = _projections(settings, projections)
    engine = _engine(settings)
    stop = stop or threading.Event()
    stats = RunStats()
    try:
        check_schema(engine, settings, chosen)
        sources = _Sources(settings, orders)
        for projection in chosen:
            state = _prepare(engine, projection)
            if state.version < projection.version:
                log.info("%s: code version %s > built version %s: rebuilding", projection.name, projection.version, state.version)
                stats.merge(_rebuild(engine, settings, sources, projection, progress, batch_size))
                stats.rebuilt.append(projection.name)
        if sources.kafka is not None:
            stats.merge(_run_kafka(engine, sources.kafka, chosen, until_caught_up, stop, batch_size))
        else:
            stats.merge(_run_embedded(engine, sources.embedded, chosen, until_caught_up, stop, batch_size, settings.relay_poll_interval))
    finally:
        engine.dispose()
    stats.seconds = time.perf_counter() - started
    return stats


def run_until_caught_up(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    orders: Orders | None = None,
    **kwargs: Any,
) -> RunStats:
    """Apply every event that exists now, then return."""
    return run(settings, projections, until_caught_up=True, orders=orders, **kwargs)


def _state_of(engine: Engine, name: str) -> rm.StateRow:
    with engine.connect() as conn:
        state = rm.read_state(conn, name)
        conn.rollback()
    assert state is not None
    return state


def _run_embedded(
    engine: Engine,
    source: EmbeddedSource,
    projections: Sequence[type[Projection]],
    until_caught_up: bool,
    stop: threading.Event,
    batch_size: int,
    poll_interval: float,
) -> RunStats:
    stats = RunStats()
    workers = [Worker(engine, p, rm.live_tables(p)) for p in projections]
    halted: dict[str, float] = {}  # name -> when its state was last checked
    for worker in workers:
        worker.reload()
        state = _state_of(engine, worker.name)
        if state.state == bk.HALTED:
            stats.halted[worker.name] = _halt_message(worker.name, state)
            halted[worker.name] = time.monotonic()
    ends = source.end_offsets()
    while not stop.is_set():
        progressed = False
        for worker in workers:
            if worker.name in halted:
                if until_caught_up or time.monotonic() - halted[worker.name] < STATE_RECHECK_SECONDS:
                    continue
                halted[worker.name] = time.monotonic()
                if _state_of(engine, worker.name).state == bk.HALTED:
                    continue
                del halted[worker.name]
                stats.halted.pop(worker.name, None)
                worker.reload()
            if until_caught_up and worker.caught_up(ends):
                continue
            messages = source.read(worker.next_offset(0), batch_size)
            if not messages:
                continue
            try:
                result = worker.process(messages)
            except FencedError as e:
                log.info("%s: fenced (%s); re-read offsets", worker.name, e)
                stats.fenced += 1
                progressed = True  # the offsets were reloaded: read again before concluding
                continue
            stats.add(result)
            progressed = True
            if result.halt is not None:
                state = _state_of(engine, worker.name)
                stats.halted[worker.name] = _halt_message(worker.name, state)
                halted[worker.name] = time.monotonic()
                log.error("%s", stats.halted[worker.name])
        if until_caught_up and all(w.name in halted or w.caught_up(ends) for w in workers):
            break
        if not progressed:
            if until_caught_up:
                # Nothing more to read below the end offsets (gaps at the end of the log).
                break
            stop.wait(poll_interval)
    return stats


# ------------------------------------------------------------------- Kafka


def _run_kafka(
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
    worker = Worker(engine, projection, rm.live_tables(projection))
    state = await asyncio.to_thread(_state_of, engine, worker.name)
    if state.state == bk.HALTED and until_caught_up:
        stats.halted[worker.name] = _halt_message(worker.name, state)
        return stats
    consumer = source.consumer(group_id(projection.name, source.topic))
    consumer.subscribe([source.topic], listener=SeekToStoredOffsets(consumer, worker.reload))
    try:
        await consumer.start()
        ends: dict[int, int] | None = None
        if until_caught_up:
            tps = await source.partitions(consumer)
            ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        live = _LiveConsumer(engine, consumer, source.topic, worker, stats, halted=state.state == bk.HALTED)
        await live.run(stop, ends, batch_size)
    finally:
        await consumer.stop()
    return stats


class _LiveConsumer:
    """The loop of one group member: fetch, apply in a thread, copy offsets to Kafka, watch for halts.

    Pipelined: the batch in flight is applied in a worker thread while the
    next one is fetched and decoded, and settled before anything else. The
    committed offsets are copied to Kafka in the background as
    :class:`KafkaCopies` schedules them, one copy at a time, its errors
    raised at the next copy; a clean stop copies the last offsets, within
    ``KAFKA_LAST_COPY_TIMEOUT`` (a failure then is logged: SQL holds them).
    """

    def __init__(
        self, engine: Engine, consumer: AIOKafkaConsumer, topic: str, worker: Worker, stats: RunStats, *, halted: bool
    ) -> None:
        self.engine = engine
        self.consumer = consumer
        self.topic = topic
        self.worker = worker
        self.stats = stats
        self.halted = halted
        self.last_check = time.monotonic()
        self.inflight: asyncio.Future[BatchResult] | None = None
        self.copying: asyncio.Future[bool] | None = None
        self.copies = KafkaCopies(KAFKA_COPY_INTERVAL)
        self.copying_offsets: dict[int, int] = {}

    async def run(self, stop: threading.Event, ends: Mapping[int, int] | None, batch_size: int) -> None:
        """Until ``stop`` (or, given ``ends``, until caught up with them, or halted)."""
        clean = False
        try:
            while not stop.is_set():
                self._copy_to_kafka()  # also when idle: what the last batch committed reaches Kafka
                if self.halted:
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
        return [message_of(r) for records in batch.values() for r in records]

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
            halted_state = await asyncio.to_thread(_state_of, self.engine, name)
            self.stats.halted[name] = _halt_message(name, halted_state)
            log.error("%s", self.stats.halted[name])
            self.halted = True
            self.last_check = time.monotonic()
            return False
        return True

    def _copy_to_kafka(self, now: bool = False) -> None:
        """Start copying the offsets :class:`KafkaCopies` says are due (all waiting, with ``now``), unless a copy runs."""
        if self.copying is not None:
            if not self.copying.done():
                return
            self.copying, copying = None, self.copying
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
            log.warning("%s: last offsets not copied to Kafka (%s); SQL holds them", self.worker.name, str(e) or "timed out")

    async def _wait_for_resume(self) -> None:
        """Halted: every few seconds, see whether a retry or skip set the projection running again."""
        if time.monotonic() - self.last_check >= STATE_RECHECK_SECONDS:
            self.last_check = time.monotonic()
            if (await asyncio.to_thread(_state_of, self.engine, self.worker.name)).state != bk.HALTED:
                self.halted = False
                self.stats.halted.pop(self.worker.name, None)
                await _reseek(self.consumer, self.worker)
                return
        await asyncio.sleep(0.2)

    async def _halted_elsewhere(self) -> bool:
        """Every few seconds: did another member of the group halt the projection?"""
        if time.monotonic() - self.last_check < STATE_RECHECK_SECONDS:
            return False
        self.last_check = time.monotonic()
        current = await asyncio.to_thread(_state_of, self.engine, self.worker.name)
        if current.state != bk.HALTED:
            return False
        if self.inflight is not None:
            await self._settle()
        self.stats.halted[self.worker.name] = _halt_message(self.worker.name, current)
        self.halted = True
        return True


async def _reseek(consumer: AIOKafkaConsumer, worker: Worker) -> None:
    offsets = await asyncio.to_thread(worker.reload)
    for tp in consumer.assignment():
        consumer.seek(tp, offsets.get(tp.partition, 0))


class KafkaCopies:
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


# ----------------------------------------------------------------- rebuild


def rebuild(
    settings: Settings,
    projection: type[Projection],
    progress: ProgressCallback | None = None,
    orders: Orders | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    """Replay ``projection`` from offset zero into shadow tables and swap them in.

    The end offsets are taken at the start; when the shadow tables reach
    them, one transaction replaces the live tables, moves the rebuild's
    checkpoints to live and records the code version. Until then readers see
    the old tables. An interrupted rebuild resumes from its own checkpoints if
    the code and table definitions are unchanged, else starts over.
    """
    engine = _engine(settings)
    try:
        check_schema(engine, settings, [projection])
        _prepare(engine, projection)
        stats = _rebuild(engine, settings, _Sources(settings, orders), projection, progress, batch_size, flush_every)
    finally:
        engine.dispose()
    stats.rebuilt.append(projection.name)
    return stats


def _rebuild(
    engine: Engine,
    settings: Settings,
    sources: _Sources,
    projection: type[Projection],
    progress: ProgressCallback | None,
    batch_size: int,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    tables = rm.shadow_tables(projection, postgres)
    # The embedded log split by order keeps one checkpoint per share: a
    # rebuild resumes them only with as many shares.
    order_shares = 1 if sources.kafka is not None else parallel.embedded_shares(settings, projection, sources.orders)
    fingerprint = rm.schema_fingerprint(projection, engine) + (f"/{order_shares} shares" if order_shares > 1 else "")
    with engine.begin() as conn:
        rm.lock(conn, projection.name, bk.REBUILD)
        state = rm.read_state(conn, projection.name)
        present = rm.existing_tables(conn)
        resumable = (
            state is not None
            and state.rebuild_fingerprint == fingerprint
            and all(t.name in present for t in tables.physical.values())
        )
        if not resumable:
            rm.drop_shadow(conn, tables)
            rm.create_shadow(conn, tables)
            rm.set_rebuild_fingerprint(conn, projection.name, fingerprint)
    job = _RebuildJob(
        engine, settings, projection, tables, not resumable, fingerprint, progress, batch_size, flush_every, started
    )
    one_checkpoint: Mapping[int, int] | None = None  # what the per-share checkpoints become at the swap
    if sources.kafka is not None:
        ends = asyncio.run(sources.kafka.end_offsets())
        if parallel.splittable(settings, projection, len(ends)):
            stats, committed = _replay_in_processes(job, ends)
        else:
            stats, committed = _replay_in_process(job, sources, ends)
    elif order_shares > 1:
        one_checkpoint = sources.embedded.end_offsets()
        stats, committed = _replay_in_processes(job, one_checkpoint, order_shares)
    else:
        stats, committed = _replay_in_process(job, sources, None)
    if postgres:
        with engine.begin() as conn:
            rm.index_shadow_pg(conn, tables)
    _swap(job, committed, one_checkpoint)
    stats.seconds = time.perf_counter() - started
    return stats


@dataclass(frozen=True)
class _RebuildJob:
    """One rebuild of a projection into its shadow tables, as the replay paths need it."""

    engine: Engine
    settings: Settings
    projection: type[Projection]
    tables: Tables
    fresh: bool  # the shadow tables were created empty for this rebuild
    fingerprint: str
    progress: ProgressCallback | None
    batch_size: int
    flush_every: int
    started: float


def _swap(job: _RebuildJob, committed: Mapping[int, int], one_checkpoint: Mapping[int, int] | None) -> None:
    """Swap the shadow tables in, if they are still this rebuild's: fenced under the rebuild lock.

    Another rebuild may have replaced the shadow tables (other code, another
    number of processes) or moved their checkpoints since this one's last
    commit: then :class:`FencedError`, and the live tables stay as they were.
    ``one_checkpoint``: the log's one checkpoint that a rebuild split by order
    swaps in instead of its per-share ones.
    """
    name = job.projection.name
    with job.engine.begin() as conn:
        rm.lock(conn, name, bk.REBUILD)
        state = rm.read_state(conn, name)
        if state is None or state.rebuild_fingerprint != job.fingerprint:
            raise FencedError(f"{name} (rebuild): another rebuild replaced the shadow tables before the swap")
        if rm.read_offsets(conn, name, bk.REBUILD) != dict(committed):
            raise FencedError(f"{name} (rebuild): another rebuild moved the checkpoints before the swap")
        if one_checkpoint is not None:
            rm.replace_offsets(conn, name, bk.REBUILD, one_checkpoint)
        rm.swap_in(conn, job.tables)


def _replay_in_process(
    job: _RebuildJob, sources: _Sources, ends: Mapping[int, int] | None
) -> tuple[RunStats, dict[int, int]]:
    """Replay in this process; the run's figures and the checkpoints it committed last."""
    worker = ReplayWorker(
        job.engine, job.projection, job.tables, fresh=job.fresh, flush_every=job.flush_every,
        fingerprint=job.fingerprint,
    )
    starts = worker.reload()
    with fewer_collections():
        if sources.kafka is not None:
            replay = replay_kafka(sources.kafka, worker, starts, job.progress, job.batch_size, job.started, ends)
            stats = asyncio.run(replay)
        else:
            stats = replay_embedded(sources.embedded, worker, starts, job.progress, job.batch_size, job.started, ends)
    if worker.halt is None:
        worker.flush()
        return stats, worker.checkpoints()
    raise ProjectionHaltedError(
        f"rebuild of {job.projection.name} stopped at {worker.halt.describe()}: "
        f"{last_halt_error(job.engine, job.projection.name, worker.halt)}; the live tables are unchanged"
    )


def _replay_in_processes(
    job: _RebuildJob, ends: Mapping[int, int], order_shares: int = 1
) -> tuple[RunStats, dict[int, int]]:
    """The partitions (Kafka) or the orders (embedded) shared out over processes (see ``adapters.parallel_replay``)."""
    name = job.projection.name
    with job.engine.connect() as conn:
        starts = rm.read_offsets(conn, name, bk.REBUILD)
        conn.rollback()
    if order_shares > 1:  # one checkpoint per share of the log's one partition: where the slowest is
        starts = {p: min(starts.get(k, 0) for k in range(order_shares)) for p in ends}
    total = sum(max(0, end - starts.get(p, 0)) for p, end in ends.items())

    def on_progress(done: int, events: int) -> None:
        if job.progress is not None:
            job.progress(Progress(name, min(done, total), total, events, time.perf_counter() - job.started))

    on_progress(0, 0)
    shares = parallel.replay_in_processes(
        job.settings, job.projection, ends, fresh=job.fresh, fingerprint=job.fingerprint,
        batch_size=job.batch_size, flush_every=job.flush_every, on_progress=on_progress, order_shares=order_shares,
    )
    # shares[0] was replayed in this process; the others each in a worker process.
    stats = RunStats(processes=len(shares), worker_peak_rss_mb=[share.peak_rss_mb for share in shares[1:]])
    committed: dict[int, int] = {}
    for share in shares:
        stats.merge(share.stats)
        committed.update(share.checkpoints)
    halts = [share.halt for share in shares if share.halt is not None]
    if halts:
        raise ProjectionHaltedError(f"rebuild of {name} stopped at {halts[0]}; the live tables are unchanged")
    # Every share reached its end offsets; the last reports may not say so (a
    # share of the orders ends at its own last event, not at the log's).
    on_progress(total, stats.events)
    return stats, committed


# ------------------------------------------------------------------ status


def status(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    orders: Orders | None = None,
) -> list[ProjectionStatus]:
    """Per projection: versions, state, offsets against the source's end, errors, dead letters."""
    chosen = _projections(settings, projections)
    engine = rm.create_read_model_engine(settings.read_model_url)
    try:
        check_schema(engine, settings, chosen)
        sources = _Sources(settings, orders)
        if sources.kafka is not None:
            ends = asyncio.run(sources.kafka.end_offsets())
        else:
            ends = sources.embedded.end_offsets()
        result = []
        with engine.connect() as conn:
            for projection in chosen:
                result.append(_status_of(conn, projection, ends))
            conn.rollback()
    finally:
        engine.dispose()
    return result


def _status_of(conn: Any, projection: type[Projection], ends: Mapping[int, int]) -> ProjectionStatus:
    state = rm.read_state(conn, projection.name)
    offsets = rm.read_offsets(conn, projection.name, bk.LIVE)
    partitions = [
        PartitionStatus(p, offsets.get(p, 0), ends.get(p, 0), max(0, ends.get(p, 0) - offsets.get(p, 0)))
        for p in sorted(set(ends) | set(offsets))
    ]
    failing = None
    if state is not None and state.state == bk.HALTED:
        failing = state.failing_event_id or f"{state.failing_partition}:{state.failing_offset}"
    return ProjectionStatus(
        name=projection.name,
        code_version=projection.version,
        version=state.version if state else None,
        state=state.state if state else "new",
        error_policy=projection.error_policy,
        partitions=partitions,
        lag=sum(p.lag for p in partitions),
        last_error=state.last_error if state else None,
        failing_event=failing,
        dead_letters=rm.count_dead_letters(conn, projection.name),
        rebuild_in_progress=bool(rm.read_offsets(conn, projection.name, bk.REBUILD))
        or bool(state and state.rebuild_fingerprint),
        rebuild_pending=bool(state and state.version < projection.version),
    )


# ------------------------------------------------------------ retry / skip


@dataclass
class RetryStats:
    applied: int = 0  # dead letters applied (or found already applied)
    still_dead: int = 0
    still_parked: int = 0
    resumed: bool = False  # a halted projection was set running again
    run: RunStats | None = None


def retry(
    settings: Settings,
    projection: type[Projection],
    orders: Orders | None = None,
) -> RetryStats:
    """Re-apply ``projection``'s dead letters (each order's in version order), and
    resume it if halted: it then runs from the message it stopped at, until
    caught up (or halted again)."""
    engine = _engine(settings)
    stats = RetryStats()
    try:
        check_schema(engine, settings, [projection])
        sources = _Sources(settings, orders)
        state = _prepare(engine, projection)
        _retry_dead_letters(engine, sources, projection, stats, orders_only=None)
        if state.state == bk.HALTED:
            with engine.begin() as conn:
                rm.lock(conn, projection.name, bk.LIVE)
                _mark_halted_letter(conn, projection.name, state, bk.RETRIED)
                rm.set_running(conn, projection.name)
            stats.resumed = True
    finally:
        engine.dispose()
    if stats.resumed:
        stats.run = run_until_caught_up(settings, [projection], orders=orders)
    return stats


def _mark_halted_letter(conn: Any, name: str, state: rm.StateRow, status: str) -> None:
    d = bk.dead_letters.c
    conn.execute(
        update(bk.dead_letters)
        .where(
            d.projection == name,
            d.target == bk.LIVE,
            d.partition == state.failing_partition,
            d.offset == state.failing_offset,
            d.status == bk.HALTED_AT,
        )
        .values(status=status, resolved_at=rm.now())
    )


def _retry_dead_letters(
    engine: Engine,
    sources: _Sources,
    projection: type[Projection],
    stats: RetryStats,
    orders_only: set[str] | None,
) -> None:
    d = bk.dead_letters.c
    with engine.connect() as conn:
        letters = conn.execute(
            select(d.id, d.aggregate_id, d.partition, d.offset, d.payload)
            .where(d.projection == projection.name, d.target == bk.LIVE, d.status.in_(bk.UNRESOLVED))
            .order_by(d.id)
        ).all()
        conn.rollback()
    groups: dict[str, list[Any]] = {}
    for letter in letters:
        if orders_only is not None and letter.aggregate_id not in orders_only:
            continue
        groups.setdefault(letter.aggregate_id or f"#{letter.id}", []).append(letter)
    tables = rm.live_tables(projection)
    instance = projection()
    for group in groups.values():
        by_message: list[tuple[Message, int]] = []
        for letter in group:
            if sources.kafka is not None:
                message = decode_payload(letter.partition, letter.offset, letter.payload)
            else:
                message = sources.embedded.refetch(letter.partition, letter.offset, letter.payload)
            by_message.append((message, letter.id))
        # Still-undecodable messages first (they block), then in version order.
        by_message.sort(key=lambda m: (m[0].event is not None, m[0].event.aggregate_version if m[0].event else 0, m[0].offset))
        with engine.begin() as conn:
            rm.lock(conn, projection.name, bk.LIVE)
            rows = SqlRows(conn, tables)
            messages = [m for m, _ in by_message]
            rows.prefetch(messages)
            result = apply_batch(instance, rows, messages)
            rows.flush()
            ids = {id(m): letter_id for m, letter_id in by_message}
            errors = {id(dl.message): dl.error for dl in result.dead_letters}
            for message, outcome in result.outcomes:
                letter_id = ids[id(message)]
                if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
                    values: dict[str, Any] = {"status": bk.APPLIED, "resolved_at": rm.now()}
                    stats.applied += 1
                elif outcome in (Outcome.DEAD, Outcome.HALTED):
                    error = errors.get(id(message)) or (result.halt.error if result.halt else None)
                    values = {"status": bk.DEAD, "error": error}
                    stats.still_dead += 1
                else:
                    values = {"status": bk.PARKED}
                    stats.still_parked += 1
                conn.execute(update(bk.dead_letters).where(d.id == letter_id).values(**values))
            stats.still_parked += len(messages) - len(result.outcomes)


def skip(
    settings: Settings,
    projection: type[Projection],
    event: str,
    orders: Orders | None = None,
) -> RetryStats:
    """Skip one failed message (by event id, or ``PARTITION:OFFSET``), recorded as ``skipped``.

    The order's version is set past it, so its later events apply. A halted
    projection's checkpoint moves past the message and it resumes; a dead
    letter's parked successors are retried.
    """
    engine = _engine(settings)
    d = bk.dead_letters.c
    stats = RetryStats()
    try:
        check_schema(engine, settings, [projection])
        state = _prepare(engine, projection)
        with engine.begin() as conn:
            rm.lock(conn, projection.name, bk.LIVE)
            condition = d.event_id == event
            if ":" in event:
                partition, _, offset = event.partition(":")
                if partition.isdigit() and offset.isdigit():
                    condition = (d.partition == int(partition)) & (d.offset == int(offset))
            letter = conn.execute(
                select(bk.dead_letters)
                .where(
                    d.projection == projection.name,
                    d.target == bk.LIVE,
                    d.status.in_((bk.DEAD, bk.HALTED_AT)),
                    condition,
                )
                .order_by(d.id.desc())
            ).mappings().first()
            if letter is None:
                raise ConfigurationError(
                    f"projection {projection.name} has no failed message {event!r} to skip; "
                    "see `orders projections status` for the failing event"
                )
            if letter["status"] == bk.HALTED_AT and not (
                state.state == bk.HALTED
                and state.failing_partition == letter["partition"]
                and state.failing_offset == letter["offset"]
            ):
                raise ConfigurationError(f"message {event!r} is not where {projection.name} is halted")
            conn.execute(
                update(bk.dead_letters).where(d.id == letter["id"]).values(status=bk.SKIPPED, resolved_at=rm.now())
            )
            if letter["aggregate_id"] is not None and letter["aggregate_version"] is not None:
                rows = SqlRows(conn, rm.live_tables(projection))
                current = rows.get(projection.versions, letter["aggregate_id"])
                if current is None or current["version"] < letter["aggregate_version"]:
                    rows.put(projection.versions, {"aggregate_id": letter["aggregate_id"], "version": letter["aggregate_version"]})
                    rows.flush()
            if letter["status"] == bk.HALTED_AT:
                rm.write_offsets(
                    conn,
                    projection.name,
                    bk.LIVE,
                    {letter["partition"]: letter["offset"]},
                    {letter["partition"]: letter["offset"] + 1},
                )
                rm.set_running(conn, projection.name)
                stats.resumed = True
        if letter["status"] == bk.DEAD and letter["aggregate_id"] is not None:
            _retry_dead_letters(engine, _Sources(settings, orders), projection, stats, {letter["aggregate_id"]})
    finally:
        engine.dispose()
    if stats.resumed:
        stats.run = run_until_caught_up(settings, [projection], orders=orders)
    return stats
