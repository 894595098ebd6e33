"""The projection store: one projection's rows and bookkeeping for one target, in the read-model database.

Every write of the runner goes through a :class:`ProjectionStore`; its
guarantees:

* **One transaction per batch.** :meth:`ProjectionStore.batch` writes the
  rows, per-order versions, dead letters, the projection's state and its
  checkpoints in one ``BEGIN ... COMMIT``. A crash before the commit leaves
  nothing; after it, everything.
* **Serialised writers per projection and target.** A batch first takes the
  projection's lock (PostgreSQL: a transaction-scoped advisory lock; SQLite:
  ``BEGIN IMMEDIATE``, the database write lock), and only then reads rows.
  Two consumers of one projection on different partitions then never lose
  each other's updates to a shared row (a customer, a SKU).
* **Fenced checkpoints** (``adapters.sql.checkpoints``): a checkpoint moves
  only from the value its writer expects; else :class:`FencedError` and the
  whole batch rolls back. A rebuild's writer also checks, at the start of
  each batch, that its checkpoints are exactly where it left them and that
  the shadow tables are still its rebuild's (the fingerprint).
* **Atomic swap.** A rebuild fills shadow tables and :meth:`swap_in` replaces
  the live tables in one transaction; readers see the old complete tables
  until that commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Table

from adapters.config import ConfigurationError
from adapters.sql import dead_letters as letters
from adapters.sql.bulk import BulkSelect, as_sqlalchemy_error, bulk_select, pipelines_supported
from adapters.sql.checkpoints import (
    CheckpointKeys,
    FencedError,
    move_checkpoints,
    read_checkpoints,
    replace_checkpoints,
)
from adapters.sql.effects import RecordedEffect, read_live_from, record_effects, set_live_from
from adapters.sql.engines import READ_ONLY
from adapters.sql.rows import SqlRows, Tables
from adapters.sql.schema import UNRESOLVED, LetterStatus, Target
from adapters.sql.shadow import begin_shadow, index_shadow_pg, swap_in
from adapters.sql.state import StateRow, ensure_state, read_state, set_halted, set_running
from adapters.sql.statements import batch_statements, lock, lock_key
from projections.apply import BatchResult, DeadLetter, Halt, Message, Outcome
from projections.contract import Projection


class RetriedLetter(NamedTuple):
    """A dead letter's message decoded again for a retry, with the letter's id."""

    message: Message
    letter_id: int


class ResumePoint(NamedTuple):
    """Where a rebuild's writer resumes: its next offsets, and the orders blocked by dead letters."""

    offsets: dict[int, int]
    blocked: dict[str, int]


@dataclass
class RetryCounts:
    applied: int = 0  # dead letters applied (or found already applied)
    still_dead: int = 0
    still_parked: int = 0


@dataclass(frozen=True)
class StoredStatus:
    """What the database says of a projection, read in one snapshot."""

    state: StateRow | None
    checkpoints: dict[int, int]  # live
    rebuild_checkpoints: dict[int, int]
    dead_letters: dict[str, int]  # status -> count (live)


@dataclass
class Batch:
    """One transaction of a :class:`ProjectionStore`: what it read under the lock, and what it will write.

    ``rows`` is the unit of work handlers write to; ``blocked`` the orders
    with unresolved dead letters (highest version recorded). What
    :meth:`record` is given is written when the ``with`` block ends.
    """

    rows: SqlRows
    blocked: dict[str, int]
    conn: Connection
    dead_letters: list[DeadLetter] = field(default_factory=list)
    halt: Halt | None = None
    next_offsets: dict[int, int] = field(default_factory=dict)
    effects: list[RecordedEffect] = field(default_factory=list)

    def record(
        self,
        dead_letters: Sequence[DeadLetter] = (),
        halt: Halt | None = None,
        next_offsets: Mapping[int, int] | None = None,
    ) -> None:
        """Dead letters to record, where a halt-policy projection stopped, and the next offsets per partition."""
        self.dead_letters += dead_letters
        if halt is not None:
            self.halt = halt
        self.next_offsets.update(next_offsets or {})

    def record_result(self, result: BatchResult) -> None:
        self.record(result.dead_letters, result.halt, result.next_offsets)

    def record_effects(self, effects: Sequence[RecordedEffect]) -> None:
        """A reactor's effects, recorded with the rows (a key recorded before: nothing)."""
        self.effects += effects

    def resolve_retried(self, retried: Sequence[RetriedLetter], result: BatchResult) -> RetryCounts:
        """Set each retried letter's status from what ``result`` says became of its message."""
        counts = RetryCounts()
        errors = {(dl.message.partition, dl.message.offset): dl.error for dl in result.dead_letters}
        # One outcome per message, in the order the messages were given, up to a halt.
        for (message, letter_id), outcome in zip(retried, result.outcomes, strict=False):
            if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
                letters.resolve_letter(self.conn, letter_id, LetterStatus.APPLIED)
                counts.applied += 1
            elif outcome in (Outcome.DEAD, Outcome.HALTED):
                error = errors.get((message.partition, message.offset)) or (result.halt.error if result.halt else None)
                letters.resolve_letter(self.conn, letter_id, LetterStatus.DEAD, error)
                counts.still_dead += 1
            else:
                letters.resolve_letter(self.conn, letter_id, LetterStatus.PARKED)
                counts.still_parked += 1
        counts.still_parked += len(retried) - len(result.outcomes)
        return counts


class ProjectionStore:
    """One projection's rows and bookkeeping for one target (its live tables, or a rebuild's shadows).

    ``keys``: the checkpoints this store's writer owns (all of the target's,
    by default). ``fingerprint``: a rebuild's identity (code version and
    table definitions); given, every batch first checks the shadow tables are
    still that rebuild's.
    """

    def __init__(
        self, engine: Engine, tables: Tables, *, keys: CheckpointKeys | None = None, fingerprint: str | None = None
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.projection: type[Projection] = tables.projection
        self.name = tables.projection.name
        self.target: Target = tables.target
        self.keys = keys or CheckpointKeys()
        self.fingerprint = fingerprint

    # ---- reads, each on a connection of its own ---------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            try:
                yield conn.execution_options(**{READ_ONLY: True})
            finally:
                conn.rollback()

    def read_checkpoints(self) -> dict[int, int]:
        """This writer's checkpoints, as the next offset per source partition."""
        with self._reading() as conn:
            return self.keys.as_offsets(read_checkpoints(conn, self.name, self.target))

    def read_resume_point(self) -> ResumePoint:
        """This writer's checkpoints (as :meth:`read_checkpoints`) and the orders blocked for this target."""
        with self._reading() as conn:
            offsets = self.keys.as_offsets(read_checkpoints(conn, self.name, self.target))
            return ResumePoint(offsets, letters.blocked_orders(conn, self.name, self.target))

    def read_state(self) -> StateRow:
        with self._reading() as conn:
            state = read_state(conn, self.name)
        if state is None:
            raise ConfigurationError(f"projection {self.name} has no state row; run it first")
        return state

    def read_status(self) -> StoredStatus:
        with self._reading() as conn:
            return StoredStatus(
                state=read_state(conn, self.name),
                checkpoints=read_checkpoints(conn, self.name, Target.LIVE),
                rebuild_checkpoints=read_checkpoints(conn, self.name, Target.REBUILD),
                dead_letters=letters.count_dead_letters(conn, self.name),
            )

    def letter_error(self, message: Message) -> str:
        """The error recorded for ``message`` (the one a rebuild halted at)."""
        with self._reading() as conn:
            return str(letters.letter_error(conn, self.name, self.target, message.partition, message.offset))

    def read_live_from(self) -> dict[int, int] | None:
        """Per partition, the offset this reactor's effects are delivered from (None: it never started)."""
        with self._reading() as conn:
            return read_live_from(conn, self.name)

    def unresolved_letters(self) -> list[letters.StoredLetter]:
        with self._reading() as conn:
            return letters.unresolved_letters(conn, self.name)

    # ---- writes ---------------------------------------------------------

    def ensure_state(self) -> StateRow:
        """The projection's state, created (running, at the code's version) if new."""
        with self.engine.begin() as conn:
            return ensure_state(conn, self.projection)

    @contextlib.contextmanager
    def batch(
        self,
        expected: Mapping[int, int] | None = None,
        *,
        orders: Iterable[str] = (),
        rows: SqlRows | None = None,
        exact: bool = False,
    ) -> Iterator[Batch]:
        """One transaction: lock, fence checks, read ahead; then the block; then write what it recorded; commit.

        ``expected``: the next offsets per source partition this writer last
        committed; the checkpoints it moves must still be there
        (:class:`FencedError` otherwise). ``orders``: their rows of every
        order-keyed table are read ahead (and the blocked orders read).
        ``rows``: a unit of work kept across batches (a rebuild's), bound to
        this transaction; none: a fresh one. ``exact``: every checkpoint this
        writer owns must be as ``expected`` at the start (a rebuild's writer,
        which no other may share).
        """
        expected = expected or {}
        with self.engine.begin() as conn:
            if rows is None:
                rows = SqlRows(conn, self.tables)
                blocked = open_batch(rows, self.name, self.target, orders)
                bound: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            else:
                lock(conn, self.name, self.target)
                blocked = {}
                bound = rows.bound_to(conn)
            with bound:
                self._check_fences(conn, expected, exact)
                batch = Batch(rows, blocked, conn)
                yield batch
                self._write(batch, expected)

    def _check_fences(self, conn: Connection, expected: Mapping[int, int], exact: bool) -> None:
        if self.fingerprint is not None:
            state = read_state(conn, self.name)
            if state is None or state.rebuild_fingerprint != self.fingerprint:
                raise FencedError(
                    f"{self.name} ({self.target}): another rebuild, of other code, replaced the shadow tables"
                )
        if exact:
            stored = self.keys.owned(read_checkpoints(conn, self.name, self.target))
            if stored != self.keys.as_stored(expected):
                raise FencedError(
                    f"{self.name} ({self.target}): checkpoints moved under this rebuild "
                    "(another rebuild of it is running?)"
                )

    def _write(self, batch: Batch, expected: Mapping[int, int]) -> None:
        conn = batch.conn
        batch.rows.flush()
        recorded = list(batch.dead_letters)
        if batch.halt is not None:
            recorded.append(DeadLetter(batch.halt.message, batch.halt.error, Outcome.HALTED))
        letters.record_dead_letters(conn, self.name, self.target, recorded)
        record_effects(conn, batch.effects)
        if batch.halt is not None and self.target == Target.LIVE:
            set_halted(conn, self.name, batch.halt)
        if batch.next_offsets:
            new = self.keys.as_stored(batch.next_offsets)
            before = self.keys.as_stored({p: o for p, o in expected.items() if p in batch.next_offsets})
            move_checkpoints(conn, self.name, self.target, {k: before.get(k) for k in new}, new)

    def skip(self, event: str) -> letters.StoredLetter:
        """Skip one failed message (its event id, or ``PARTITION:OFFSET``): recorded as skipped.

        The order's version is set past it, so its later events apply. If the
        projection is halted at it, its checkpoint moves past the message and
        it is set running again. The letter skipped is returned.
        """
        assert self.target == Target.LIVE
        with self.batch() as batch:
            conn = batch.conn
            state = ensure_state(conn, self.projection)
            letter = letters.failed_letter(conn, self.name, event)
            if letter is None:
                raise ConfigurationError(
                    f"projection {self.name} has no failed message {event!r} to skip; "
                    "see `orders projections status` for the failing event"
                )
            halted_here = (
                state.halted and state.failing_partition == letter.partition and state.failing_offset == letter.offset
            )
            if letter.status == LetterStatus.HALTED and not halted_here:
                raise ConfigurationError(f"message {event!r} is not where {self.name} is halted")
            letters.resolve_letter(conn, letter.id, LetterStatus.SKIPPED)
            if letter.aggregate_id is not None and letter.aggregate_version is not None:
                versions = self.projection.versions
                current = batch.rows.get(versions, letter.aggregate_id)
                if current is None or current["version"] < letter.aggregate_version:
                    batch.rows.put(versions, {"aggregate_id": letter.aggregate_id, "version": letter.aggregate_version})
            if letter.status == LetterStatus.HALTED:
                move_checkpoints(
                    conn,
                    self.name,
                    self.target,
                    {letter.partition: letter.offset},
                    {letter.partition: letter.offset + 1},
                )
                set_running(conn, self.name)
        return letter

    def resume(self) -> bool:
        """Set a halted projection running again from the message it stopped at; False if it was not halted."""
        assert self.target == Target.LIVE
        with self.engine.begin() as conn:
            lock(conn, self.name, self.target)
            state = read_state(conn, self.name)
            if state is None or not state.halted:
                return False
            letters.resolve_halted_letter(conn, self.name, state, LetterStatus.RETRIED)
            set_running(conn, self.name)
        return True

    def start_reactor(self, checkpoints: Mapping[int, int], live_from: Mapping[int, int]) -> bool:
        """A reactor's first start: its checkpoints and the offsets its effects are delivered from.

        ``checkpoints``: where it starts reading (the head of the log, or
        offset zero for one started from the beginning). Under the
        projection's lock; False (and nothing written) if it started before.
        """
        assert self.target == Target.LIVE
        with self.engine.begin() as conn:
            lock(conn, self.name, self.target)
            if read_live_from(conn, self.name) is not None:
                return False
            set_live_from(conn, self.name, live_from)
            if not read_checkpoints(conn, self.name, self.target):
                replace_checkpoints(conn, self.name, self.target, checkpoints)
        return True

    # ---- rebuilds (a store on the rebuild target) -------------------------

    def begin_rebuild(self, fingerprint: str) -> bool:
        """Start or resume a rebuild into the shadow tables: True if resumed.

        Resumed only if the rebuild in progress has this ``fingerprint`` and
        its shadow tables are all there; otherwise they are created empty.
        """
        assert self.target == Target.REBUILD
        with self.engine.begin() as conn:
            lock(conn, self.name, self.target)
            return begin_shadow(conn, self.tables, fingerprint)

    def index_shadow(self) -> None:
        """PostgreSQL: build the secondary indexes on the shadow tables (SQLite: at the swap)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                index_shadow_pg(conn, self.tables)

    def swap_in(self, committed: Mapping[int, int], merged: Mapping[int, int] | None = None) -> None:
        """Swap the shadow tables in, if they are still this rebuild's: fenced under the rebuild lock.

        Another rebuild may have replaced the shadow tables (other code, another
        number of processes) or moved their checkpoints since this one's last
        commit (``committed``, as stored): then :class:`FencedError`, and the
        live tables stay as they were. ``merged``: the checkpoints that the
        per-share ones of a rebuild split by order become.
        """
        assert self.target == Target.REBUILD
        with self.engine.begin() as conn:
            lock(conn, self.name, self.target)
            state = read_state(conn, self.name)
            if state is None or state.rebuild_fingerprint != self.fingerprint:
                raise FencedError(f"{self.name} (rebuild): another rebuild replaced the shadow tables before the swap")
            if read_checkpoints(conn, self.name, self.target) != dict(committed):
                raise FencedError(f"{self.name} (rebuild): another rebuild moved the checkpoints before the swap")
            if merged is not None:
                replace_checkpoints(conn, self.name, self.target, merged)
            swap_in(conn, self.tables)


def open_batch(rows: SqlRows, projection: str, target: Target, orders: Iterable[str]) -> dict[str, int]:
    """The start of a batch's transaction on ``rows.conn``: the lock, then the blocked
    orders (returned), then ``orders``' rows of every order-keyed table read into ``rows``.

    PostgreSQL: the statements go in one psycopg pipeline, sent in this order
    and answered in one round trip instead of five (BEGIN, the lock, the
    blocked orders, one read per table); each still runs after the lock is
    granted (see docs/benchmarks.md#live-batch). A failure is raised as
    SQLAlchemy's exception (:func:`~adapters.sql.bulk.as_sqlalchemy_error`).
    """
    conn = rows.conn
    keys = sorted(orders)
    if not pipelines_supported(conn.dialect):
        lock(conn, projection, target)
        blocked = letters.blocked_orders(conn, projection, target)
        rows.prefetch_orders(keys)
        return blocked
    statements = batch_statements(conn.dialect)
    pg = conn.connection.driver_connection
    assert pg is not None  # None only once the connection is invalidated: conn.connection raises then
    try:
        with contextlib.ExitStack() as cursors:
            reads: list[tuple[Table, BulkSelect, Any]] = []
            with pg.pipeline():
                cursors.enter_context(pg.cursor()).execute(statements.lock, (lock_key(projection, target),))
                blocked_rows = cursors.enter_context(pg.cursor())
                blocked_rows.execute(letters.blocked_sql(conn.dialect), (projection, target, *UNRESOLVED))
                for table in rows.tables.order_keyed if keys else ():
                    fetch = bulk_select(conn.dialect, rows.tables.physical[table])
                    read = cursors.enter_context(pg.cursor())
                    read.execute(fetch.sql, (keys,))
                    reads.append((table, fetch, read))
            for table, fetch, read in reads:
                rows.seed(table, map(fetch.row, read.fetchall()), ((k,) for k in keys))
            return letters.blocked_from_rows(blocked_rows.fetchall())
    except conn.dialect.loaded_dbapi.Error as e:
        raise as_sqlalchemy_error(conn, e) from e
