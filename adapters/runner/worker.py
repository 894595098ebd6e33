"""Live batches: each batch of messages applied to a projection's live tables in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Engine

from adapters.runner.reactions import Reactions
from adapters.sql.checkpoints import FencedError
from adapters.sql.retries import retry_on_database
from adapters.sql.rows import live_tables
from adapters.sql.store import ProjectionStore
from projections.apply import BatchResult, Message, RowsUnavailableError, apply_batch
from projections.contract import Projection
from reactors.contract import Reactor

BATCH_SIZE = 5000  # messages read from a source at a time (and applied in one live transaction)


class LiveBatchWriter:
    """Applies batches of one projection's messages to its live tables, one transaction each.

    Holds the offsets it expects to find in SQL. :meth:`process` drops
    messages below them (already applied), applies the rest in one
    :meth:`ProjectionStore.batch` (rows, dead letters, state, fenced
    checkpoints) and retries it when the database fails it. On
    :class:`FencedError` it re-reads the offsets before re-raising, and the
    caller seeks. Thread-safe: a Kafka loop applies in a worker thread while
    its event loop reads the offsets.
    """

    def __init__(self, engine: Engine, projection: type[Projection]) -> None:
        self.projection = projection()
        self.name = projection.name
        self.store = ProjectionStore(engine, live_tables(projection))
        self.reactions = (
            Reactions(self.projection, self.store.read_live_from() or {})
            if isinstance(self.projection, Reactor)
            else None
        )
        self.stored: dict[int, int] = {}  # the checkpoints known to be in SQL
        self.halted_at: Message | None = None
        self._lock = threading.Lock()

    def next_offset(self, partition: int) -> int:
        return self.stored.get(partition, 0)

    def reload(self) -> dict[int, int]:
        offsets = self.store.read_checkpoints()
        with self._lock:
            self.stored = dict(offsets)
        return offsets

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Apply ``messages`` in one transaction (retrying database failures)."""
        with self._lock:
            stored = dict(self.stored)
        unapplied = [m for m in messages if m.offset >= stored.get(m.partition, 0)]
        if not unapplied:
            return BatchResult()
        try:
            result = retry_on_database(
                lambda: self._apply(unapplied, stored), f"{self.name}: batch", also=(RowsUnavailableError,)
            )
        except FencedError:
            self.reload()
            raise
        with self._lock:
            self.stored.update(result.next_offsets)
        if result.halt is not None:
            self.halted_at = result.halt.message
        return result

    def _apply(self, messages: list[Message], stored: Mapping[int, int]) -> BatchResult:
        orders = {m.aggregate_id for m in messages if m.aggregate_id is not None}
        if self.reactions is not None:
            self.reactions.discard()  # an earlier attempt's, rolled back
        with self.store.batch(stored, orders=orders) as batch:
            result = apply_batch(self.projection, batch.rows, messages, batch.blocked)
            batch.record_result(result)
            if self.reactions is not None:
                batch.record_effects(self.reactions.take(messages))
        return result

    def caught_up(self, ends: Mapping[int, int], partitions: Iterable[int] | None = None) -> bool:
        parts = ends.keys() if partitions is None else partitions
        return all(self.next_offset(p) >= ends.get(p, 0) for p in parts)
