"""Rebuild replays: a projection's messages applied to its shadow tables, committed in big transactions.

A rebuild's writer (:class:`ReplayWorker`) keeps its rows in memory across
batches (``adapters.sql.replay_rows``), applies batch after batch through the
same engine as live processing (dedupe, gap checks, handlers, error policy),
and every ``flush_every`` messages writes what changed, the dead letters and
its checkpoints in ONE :meth:`ProjectionStore.batch`. The loops read a source
up to the end offsets taken when the rebuild started.

Guarantees, the same as live processing where it says so:

* **Rows and checkpoints commit together.** A crash loses only what was
  applied since the last flush; the rebuild resumes from the checkpoints,
  which match the rows.
* **Fenced.** Each flush first takes the projection's rebuild lock and checks
  that every checkpoint the worker owns is where it left it, and (given its
  ``fingerprint``) that no rebuild of other code replaced the shadow tables.
  Otherwise :class:`FencedError`, having forgotten everything it held in
  memory (its rows may be stale), and it re-reads its checkpoints.
* **Database failures.** Reading rows back before a batch and each flush are
  retried with backoff, as live batches are. A failure while a batch is
  being applied (a row read by a handler) ends the rebuild; the next one
  resumes from the last flush.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine

from adapters.eventstore.source import EmbeddedSource
from adapters.kafka.source import KafkaSource, message_from_record
from adapters.runner.reactions import Reactions
from adapters.runner.stats import Progress, ProgressCallback, RunStats
from adapters.sql.checkpoints import CheckpointKeys, FencedError
from adapters.sql.effects import RecordedEffect
from adapters.sql.replay_rows import ReplayRows
from adapters.sql.retries import retry_on_database
from adapters.sql.rows import Tables
from adapters.sql.store import ProjectionStore
from projections.apply import BatchResult, DeadLetter, Halt, Message, apply_batch
from projections.contract import Projection
from reactors.contract import Reactor

# The rows a rebuild holds in memory, for the whole rebuild: one process
# holds it all; a rebuild split over processes gives each its part
# (adapters.runner.parallel). See docs/benchmarks.md#rebuild-memory.
FLUSH_EVERY = 150_000  # messages applied in memory between two commits
MAX_CACHED_ROWS = 40_000  # rows kept per table after a flush (an order_summary row: ~1.5 KB)
# Python's cyclic garbage collector during a rebuild: (young, middle, old) thresholds.
REBUILD_GC_THRESHOLDS = (500_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector far less often while a rebuild replays.

    A rebuild allocates several objects per event and holds ~10^5 rows in
    memory; at the default thresholds the collector's passes over them cost
    as much as decoding (docs/benchmarks.md#rebuild-gc). Nothing a rebuild
    makes depends on cycles being freed soon.
    """
    before = gc.get_threshold()
    gc.set_threshold(*REBUILD_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class ReplayWorker:
    """Applies a rebuild's messages to its shadow tables; commits every ``flush_every`` messages.

    The same interface as the live batch writer (``reload``, ``next_offset``,
    ``process``, ``caught_up``, ``halted_at``), plus :meth:`flush`, which the
    rebuild calls once it has replayed everything. Offsets it reports are the
    ones *applied* (in memory or stored); :attr:`stored` are committed.

    ``keys``: the rebuild checkpoints this worker owns (all by default; one
    share of the partitions, or of the orders, in a rebuild split over
    processes). ``created_empty``: the shadow tables were created empty for
    this worker, so a key it has never seen has no row.
    """

    def __init__(
        self,
        engine: Engine,
        projection: type[Projection],
        tables: Tables,
        *,
        created_empty: bool,
        flush_every: int = FLUSH_EVERY,
        max_cached_rows: int | None = None,
        keys: CheckpointKeys | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.engine = engine
        self.store = ProjectionStore(engine, tables, keys=keys, fingerprint=fingerprint)
        self.projection = projection()
        self.name = projection.name
        self.tables = tables
        self.flush_every = flush_every
        self.max_cached_rows = MAX_CACHED_ROWS if max_cached_rows is None else max_cached_rows
        self._created_empty = created_empty
        self.stored: dict[int, int] = {}
        self.applied: dict[int, int] = {}
        self.halted_at: Message | None = None
        self._pending_halt: Halt | None = None
        self._blocked: dict[str, int] = {}
        self._dead_letters: list[DeadLetter] = []
        self._unflushed = 0
        self.rows = ReplayRows(engine, tables, complete=created_empty, max_cached_rows=self.max_cached_rows)
        # A reactor's effects, recorded with each flush (suppressed before its live-from offsets).
        self.reactions = (
            Reactions(self.projection, self.store.read_live_from() or {})
            if isinstance(self.projection, Reactor)
            else None
        )
        self._effects: list[RecordedEffect] = []

    def reload(self) -> dict[int, int]:
        """Forget what is in memory; read the checkpoints and blocked orders from SQL."""
        offsets, blocked = self.store.read_resume_point()  # a ResumePoint
        complete = self._created_empty and not offsets
        self._created_empty = False  # after a reload nothing says the tables are still ours alone
        self.stored = dict(offsets)
        self.applied = dict(offsets)
        self._blocked = blocked
        self._dead_letters = []
        self._effects = []
        self._unflushed = 0
        self.rows = ReplayRows(self.engine, self.tables, complete=complete, max_cached_rows=self.max_cached_rows)
        return offsets

    def next_offset(self, partition: int) -> int:
        return self.applied.get(partition, 0)

    def caught_up(self, ends: Mapping[int, int], partitions: Iterable[int] | None = None) -> bool:
        parts = ends.keys() if partitions is None else partitions
        return all(self.next_offset(p) >= ends.get(p, 0) for p in parts)

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Apply ``messages`` in memory; flush when ``flush_every`` are pending or one halted."""
        unapplied = [m for m in messages if m.offset >= self.applied.get(m.partition, 0)]
        if not unapplied or self.halted_at is not None:
            return BatchResult()
        self.rows.load_misses(unapplied)
        result = apply_batch(self.projection, self.rows, unapplied, self._blocked)
        self._blocked.update(result.blocked)
        self._dead_letters += result.dead_letters
        if self.reactions is not None:
            self._effects += self.reactions.take(unapplied)
        self.applied.update(result.next_offsets)
        self._unflushed += len(result.outcomes)
        if result.halt is not None:
            self._pending_halt = result.halt
            self.halted_at = result.halt.message
            self.flush()
        elif self._unflushed >= self.flush_every:
            self.flush()
        return result

    def flush(self) -> None:
        """Commit the rows, dead letters and checkpoints applied since the last flush, in one transaction."""
        if self.applied == self.stored and not self._dead_letters and not self._effects and self._pending_halt is None:
            return
        try:
            retry_on_database(self._commit, f"{self.name}: rebuild flush")
        except FencedError:
            self.reload()
            raise
        self.stored = dict(self.applied)
        self._dead_letters = []
        self._effects = []
        self._pending_halt = None  # recorded; ``halted_at`` still tells the rebuild where it stopped
        self._unflushed = 0
        self.rows.committed()

    def checkpoints(self) -> dict[int, int]:
        """The rebuild checkpoints this worker committed last, as stored (the swap checks them)."""
        return self.store.keys.as_stored(self.stored)

    def halt_error(self) -> str:
        """The error recorded for the message this worker halted at."""
        assert self.halted_at is not None
        return self.store.letter_error(self.halted_at)

    def _commit(self) -> None:
        with self.store.batch(self.stored, rows=self.rows, exact=True) as batch:
            batch.record(self._dead_letters, self._pending_halt, self.applied)
            batch.record_effects(self._effects)


# ------------------------------------------------------------ the loops


def report_progress(
    progress: ProgressCallback | None,
    worker: ReplayWorker,
    starts: Mapping[int, int],
    ends: Mapping[int, int],
    stats: RunStats,
    started: float,
) -> None:
    """Tell ``progress`` how far ``worker`` got from ``starts`` towards ``ends``."""
    if progress is None:
        return
    total = sum(max(0, ends[p] - starts.get(p, 0)) for p in ends)
    done = sum(max(0, min(worker.next_offset(p), ends[p]) - starts.get(p, 0)) for p in ends)
    progress(Progress(worker.name, done, total, stats.events, time.perf_counter() - started))


def replay_embedded(
    source: EmbeddedSource,
    worker: ReplayWorker,
    starts: Mapping[int, int],
    progress: ProgressCallback | None,
    batch_size: int,
    started: float,
    ends: Mapping[int, int] | None = None,
) -> RunStats:
    """Replay the embedded log (one partition) up to ``ends`` (default: its end now)."""
    stats = RunStats()
    if ends is None:
        ends = source.end_offsets()
    report_progress(progress, worker, starts, ends, stats, started)
    while not worker.caught_up(ends):
        messages = source.read(worker.next_offset(0), batch_size, stop=ends[0] - 1)
        if not messages:
            break  # only gaps left below the end offset
        result = worker.process(messages)
        stats.add(result)
        if result.halt is not None:
            break
        report_progress(progress, worker, starts, ends, stats, started)
    return stats


async def replay_kafka(
    source: KafkaSource,
    worker: ReplayWorker,
    starts: Mapping[int, int],
    progress: ProgressCallback | None,
    batch_size: int,
    started: float,
    ends: Mapping[int, int] | None = None,
) -> RunStats:
    """Replay with manual assignment (no group) of every partition, or of those in ``ends``.

    ``ends``: the end offsets to replay up to (default: the topic's, now).
    """
    stats = RunStats()
    consumer = source.consumer(None)
    try:
        await consumer.start()
        tps = await source.partitions(consumer)
        if ends is None:
            ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        else:
            tps = [tp for tp in tps if tp.partition in ends]
        pending = [tp for tp in tps if worker.next_offset(tp.partition) < ends[tp.partition]]
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, worker.next_offset(tp.partition))
        report_progress(progress, worker, starts, ends, stats, started)
        inflight: asyncio.Future[BatchResult] | None = None
        while pending or inflight is not None:
            messages: list[Message] = []
            if pending:
                batch = await consumer.getmany(timeout_ms=100 if inflight else 500, max_records=batch_size)
                for tp, records in batch.items():
                    end = ends[tp.partition]
                    if not records or records[-1].offset < end:  # (in offset order: usually all below the end)
                        messages += map(message_from_record, records)
                    else:
                        messages += [message_from_record(r) for r in records if r.offset < end]
            if inflight is not None:
                # Applied in a worker thread while this batch was fetched and decoded.
                future, inflight = inflight, None
                result = await future
                stats.add(result)
                if result.halt is not None:
                    break
                report_progress(progress, worker, starts, ends, stats, started)
                done = [
                    tp for tp in pending
                    if worker.next_offset(tp.partition) >= ends[tp.partition]
                    # Offsets without a record (e.g. transaction markers) never arrive.
                    or await consumer.position(tp) >= ends[tp.partition]
                ]
                if done:
                    pending = [tp for tp in pending if tp not in done]
                    consumer.pause(*done)
            if messages:
                inflight = asyncio.ensure_future(asyncio.to_thread(worker.process, messages))
    finally:
        await consumer.stop()
    return stats
