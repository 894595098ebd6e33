"""The SQL side of a rebuild: rows kept in memory across batches, written in big transactions.

A rebuild fills shadow tables that nothing but the rebuild writes, so it does
not need to read its rows back for every batch, nor commit after every batch
as live processing does. :class:`ReplayWorker` keeps the rows it has seen in
memory (:class:`ReplayRows`), applies batch after batch through the same
engine (dedupe, gap checks, handlers, error policy), and every
``flush_every`` messages writes what changed, the dead letters and the
checkpoints in ONE transaction.

Guarantees, the same as live processing where it says so:

* **Rows and checkpoints commit together.** A crash loses only what was
  applied since the last flush; the rebuild resumes from the checkpoints,
  which match the rows.
* **Fenced.** Each flush first takes the projection's rebuild lock and checks
  that every checkpoint of the rebuild is where this worker left it, and
  (given its ``fingerprint``) that no rebuild of other code replaced the
  shadow tables. Otherwise it raises :class:`FencedError`, having forgotten
  everything it held in memory (its rows may be stale), and re-reads the
  checkpoints.
* **Exact reads.** A row not in memory is read from the shadow table, unless
  the worker knows there is none: when it created the shadow tables empty
  itself, a key it has never seen has no row. Memory is bounded: beyond
  ``max_cached_rows`` rows per table the oldest clean rows are dropped after a
  flush (and read again if needed); past ``MAX_EVICTED_KEYS`` dropped keys it
  stops remembering them and looks every key not in memory up.
* **Database failures.** Reading rows back before a batch and each flush are
  retried with backoff, as live batches are. A failure while a batch is
  being applied (a row read by a handler) ends the rebuild; the next one
  resumes from the last flush.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import OperationalError

from adapters.eventstore.source import EMBEDDED_PARTITION, EmbeddedSource
from adapters.kafka.source import KafkaSource, message_from_record
from adapters.runner.stats import Progress, ProgressCallback, RunStats
from adapters.sql import schema as bk
from adapters.sql.bookkeeping import FencedError, blocked_orders, lock, read_offsets, read_state, write_offsets
from adapters.sql.dead_letters import insert_dead_letters
from adapters.sql.engines import READ_ONLY
from adapters.sql.rows import SqlRows, Tables
from projections.contract import Projection
from projections.engine import BatchResult, DeadLetter, Halt, Message, apply_batch

log = logging.getLogger(__name__)

# The rows a rebuild holds in memory, for the whole rebuild: one process
# holds it all; a rebuild split over processes gives each its part
# (adapters.runner.parallel), so splitting does not multiply its memory.
FLUSH_EVERY = 150_000  # messages applied in memory between two commits
MAX_CACHED_ROWS = 40_000  # rows kept per table after a flush (an order_summary row: ~1.5 KB)
MAX_EVICTED_KEYS = 500_000  # keys remembered as "stored, not in memory" before every miss is looked up
DB_ATTEMPTS = 5
DB_BACKOFF = 0.2
# Python's cyclic garbage collector during a rebuild: (young, middle, old) thresholds.
REBUILD_GC_THRESHOLDS = (500_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector far less often while a rebuild replays.

    A rebuild allocates several objects per event and holds ~10^5 rows in
    memory; at the default thresholds (700, 10, 10) the collector's passes
    over them cost as much as decoding itself: with these thresholds decoding
    a message took 8.4 instead of 17.9 us, and a one-process Kafka rebuild
    ran at 16.4k instead of 13.2k events/s (measured). A batch of 5,000 events
    has ~10^5 objects alive at once: a young-generation threshold of 50,000
    still ran a pass over them every other batch (0.75 s of a 24 s split
    SQLite rebuild, per process); at 500,000, 0.16 s, same peak memory
    (measured). Nothing a rebuild makes depends on cycles being freed soon.
    """
    before = gc.get_threshold()
    gc.set_threshold(*REBUILD_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class ReplayRows(SqlRows):
    """A projection's shadow rows, cached across batches.

    ``complete`` says the shadow tables were created empty by this worker and
    nobody else wrote them since: then a key not cached and never evicted has
    no row, and is not looked up.
    """

    def __init__(self, engine: Engine, tables: Tables, *, complete: bool, max_cached_rows: int) -> None:
        super().__init__(None, tables)  # type: ignore[arg-type]  # a connection per read or flush
        self.engine = engine
        self.complete = complete
        self.max_cached_rows = max_cached_rows
        self._evicted: dict[Table, set[tuple[Any, ...]]] = {}

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        if not self._maybe_stored(table, key):
            return None
        with self._reading():
            return super().load(table, key)

    def load_misses(self, messages: Iterable[Message]) -> None:
        """Read, in one query per order-keyed table, the batch's rows that may be stored but are not cached."""
        if self.complete and not any(self._evicted.values()):
            return  # nothing stored that is not in memory
        # Keys as the row caches hold them, of the decoded events only (a poison
        # message is never applied). Not ``keys - cache.keys()``: that walks
        # the whole cache, tens of thousands of rows, every batch.
        keys = {(event.aggregate_id,) for m in messages if (event := m.event) is not None}
        misses: dict[Table, list[str]] = {}
        for table in self.tables.order_keyed:
            cached = self._rows.get(table, {})
            if self.complete:  # only a key evicted after its flush can be stored and not cached
                keys_maybe_stored: Iterable[tuple[Any, ...]] = keys & self._evicted.get(table, set())
            else:
                keys_maybe_stored = keys
            misses[table] = [k[0] for k in keys_maybe_stored if k not in cached]
        if not any(misses.values()):
            return
        for attempt in range(1, DB_ATTEMPTS + 1):
            try:
                with self._reading():
                    for table, keys in misses.items():
                        self.prefetch_keys(table, keys)
                return
            except OperationalError as e:
                if attempt == DB_ATTEMPTS:
                    raise
                log.warning("rebuild: reading rows back failed on the database (%s); retrying", e)
                time.sleep(DB_BACKOFF * attempt)

    def write(self, conn: Any) -> int:
        """Write every change on ``conn`` (in the caller's transaction)."""
        with self._using(conn):
            return self.flush()

    def committed(self) -> None:
        """The changes are stored: forget they were changes, and drop rows over the bound."""
        for dirty in self._dirty.values():
            dirty.clear()
        for table, cache in self._rows.items():
            excess = len(cache) - self.max_cached_rows
            if excess <= 0:
                continue
            evicted = self._evicted.setdefault(table, set())
            for key in list(_first(cache, excess)):
                if cache.pop(key) is not None:
                    evicted.add(key)  # a stored row: read it again if needed
        if sum(len(keys) for keys in self._evicted.values()) > MAX_EVICTED_KEYS:
            # Remembering every evicted key would grow with the history: from
            # here on, any key not in memory is looked up (one query per batch).
            self.complete = False
            self._evicted.clear()

    def _maybe_stored(self, table: Table, key: tuple[Any, ...]) -> bool:
        return not self.complete or key in self._evicted.get(table, ())

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A connection of its own for reads (rolled back after).

        Read-only: on SQLite it reads the last commit without waiting for the
        write lock, which another worker of a split rebuild may hold while it
        flushes. The rows it reads back were committed by this worker.
        """
        with self.engine.connect() as conn, self._using(conn.execution_options(**{READ_ONLY: True})):
            try:
                yield
            finally:
                conn.rollback()

    @contextmanager
    def _using(self, conn: Any) -> Iterator[None]:
        self.conn = conn
        try:
            yield
        finally:
            self.conn = None  # type: ignore[assignment]


def _first(cache: dict[Any, Any], n: int) -> Iterable[Any]:
    for i, key in enumerate(cache):
        if i == n:
            return
        yield key


class ReplayWorker:
    """Applies a rebuild's messages to its shadow tables; commits every ``flush_every`` messages.

    The same interface as the live ``Worker`` (``reload``, ``next_offset``,
    ``process``, ``caught_up``, ``halt``), plus :meth:`flush`, which the
    rebuild calls once it has replayed everything. Offsets it reports are
    the ones *applied* (in memory or stored); :attr:`stored` are committed.
    """

    def __init__(
        self,
        engine: Engine,
        projection: type[Projection],
        tables: Tables,
        *,
        fresh: bool,
        flush_every: int = FLUSH_EVERY,
        max_cached_rows: int | None = None,
        partitions: Collection[int] | None = None,
        fingerprint: str | None = None,
        slot: int | None = None,
    ) -> None:
        self.engine = engine
        # The rebuild's identity (code version and table definitions) recorded
        # when it created the shadow tables: a rebuild of other code that
        # replaced them since fences this one.
        self.fingerprint = fingerprint
        # Only these partitions (None: all): a worker of a partition-parallel
        # rebuild, whose rows no other worker touches (see adapters.runner.parallel).
        self.partitions = None if partitions is None else frozenset(partitions)
        # A worker of a rebuild of the embedded log split by order (its source
        # reads one share): its offset in the log's one partition is stored as
        # checkpoint ``slot``, one per share; the swap makes them one again.
        self.slot = slot
        self.projection = projection()
        self.name = projection.name
        self.tables = tables
        self.target = tables.target
        self.flush_every = flush_every
        self.max_cached_rows = MAX_CACHED_ROWS if max_cached_rows is None else max_cached_rows
        self._fresh = fresh  # the shadow tables were created empty for this worker
        self.stored: dict[int, int] = {}
        self.applied: dict[int, int] = {}
        self.halt: Message | None = None
        self._halt: Halt | None = None
        self._blocked: dict[str, int] = {}
        self._dead_letters: list[DeadLetter] = []
        self._unflushed = 0
        self.rows = ReplayRows(engine, tables, complete=fresh, max_cached_rows=self.max_cached_rows)

    def reload(self) -> dict[int, int]:
        """Forget what is in memory; read the checkpoints and blocked orders from SQL."""
        with self.engine.connect() as conn:
            offsets = self._own(read_offsets(conn, self.name, self.target))
            blocked = blocked_orders(conn, self.name, self.target)
            conn.rollback()
        complete = self._fresh and not offsets
        self._fresh = False  # after a reload nothing says the tables are still ours alone
        self.stored = dict(offsets)
        self.applied = dict(offsets)
        self._blocked = blocked
        self._dead_letters = []
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
        fresh = [m for m in messages if m.offset >= self.applied.get(m.partition, 0)]
        if not fresh or self.halt is not None:
            return BatchResult()
        self.rows.load_misses(fresh)
        result = apply_batch(self.projection, self.rows, fresh, self._blocked)
        self._blocked.update(result.blocked)
        self._dead_letters += result.dead_letters
        self.applied.update(result.next_offsets)
        self._unflushed += len(result.outcomes)
        if result.halt is not None:
            self._halt = result.halt
            self.halt = result.halt.message
            self.flush()
        elif self._unflushed >= self.flush_every:
            self.flush()
        return result

    def flush(self) -> None:
        """Commit the rows, dead letters and checkpoints applied since the last flush, in one transaction."""
        if self.applied == self.stored and not self._dead_letters and self._halt is None:
            return
        for attempt in range(1, DB_ATTEMPTS + 1):
            try:
                self._commit()
                break
            except FencedError:
                self.reload()
                raise
            except OperationalError as e:
                if attempt == DB_ATTEMPTS:
                    raise
                log.warning("%s: rebuild flush failed on the database (%s); retrying", self.name, e)
                time.sleep(DB_BACKOFF * attempt)
        self.stored = dict(self.applied)
        self._dead_letters = []
        self._halt = None  # recorded; ``halt`` still tells the rebuild where it stopped
        self._unflushed = 0
        self.rows.committed()

    def _own(self, offsets: dict[int, int]) -> dict[int, int]:
        """This worker's offsets (by source partition) among the rebuild's checkpoints."""
        if self.slot is not None:
            return {EMBEDDED_PARTITION: offsets[self.slot]} if self.slot in offsets else {}
        if self.partitions is None:
            return offsets
        return {p: o for p, o in offsets.items() if p in self.partitions}

    def _checkpoints(self, offsets: Mapping[int, Any]) -> dict[int, Any]:
        """This worker's offsets as the checkpoints that store them (the inverse of :meth:`_own`)."""
        if self.slot is not None:
            return {self.slot: offsets[EMBEDDED_PARTITION]} if EMBEDDED_PARTITION in offsets else {}
        return dict(offsets)

    def checkpoints(self) -> dict[int, int]:
        """The rebuild checkpoints this worker committed last, as stored (the swap checks them)."""
        return self._checkpoints(self.stored)

    def _commit(self) -> None:
        with self.engine.begin() as conn:
            lock(conn, self.name, self.target)
            if self.fingerprint is not None:
                state = read_state(conn, self.name)
                if state is None or state.rebuild_fingerprint != self.fingerprint:
                    raise FencedError(
                        f"{self.name} ({self.target}): another rebuild, of other code, replaced the shadow tables"
                    )
            now = self._own(read_offsets(conn, self.name, self.target))
            if now != self.stored:
                raise FencedError(
                    f"{self.name} ({self.target}): checkpoints moved under this rebuild "
                    f"(another rebuild of it is running?)"
                )
            self.rows.write(conn)
            insert_dead_letters(conn, self.name, self.target, self._dead_letters)
            if self._halt is not None:
                halt = self._halt
                insert_dead_letters(
                    conn, self.name, self.target, [DeadLetter(halt.message, halt.error, bk.HALTED_AT)]
                )
            write_offsets(
                conn,
                self.name,
                self.target,
                self._checkpoints({p: self.stored.get(p) for p in self.applied}),
                self._checkpoints(self.applied),
            )


# ------------------------------------------------------------ the loops


def last_halt_error(engine: Engine, name: str, message: Message) -> str:
    """The error recorded for the message a rebuild halted at."""
    d = bk.dead_letters.c
    with engine.connect() as conn:
        error = conn.execute(
            select(d.error).where(
                d.projection == name,
                d.target == bk.REBUILD,
                d.partition == message.partition,
                d.offset == message.offset,
            )
        ).scalar()
        conn.rollback()
    return str(error)


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
