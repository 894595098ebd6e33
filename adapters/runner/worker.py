"""Live batches: one transaction per batch of messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from adapters.sql import schema as bk
from adapters.sql.bookkeeping import FencedError, open_batch, read_offsets, set_halted, write_offsets
from adapters.sql.dead_letters import insert_dead_letters
from adapters.sql.rows import SqlRows, Tables
from projections.contract import Projection
from projections.engine import (
    BatchResult,
    DeadLetter,
    Message,
    RowsUnavailableError,
    apply_batch,
)

log = logging.getLogger(__name__)


BATCH_SIZE = 5000  # messages read from a source at a time (and applied in one live transaction)
DB_ATTEMPTS = 5  # a batch whose transaction fails on the database is retried this often


DB_BACKOFF = 0.2


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
            offsets = read_offsets(conn, self.name, self.target)
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
            blocked = open_batch(rows, self.name, self.target, orders)
            result = apply_batch(self.projection, rows, messages, blocked)
            rows.flush()
            insert_dead_letters(conn, self.name, self.target, result.dead_letters)
            if result.halt is not None:
                halt = result.halt
                insert_dead_letters(
                    conn, self.name, self.target, [DeadLetter(halt.message, halt.error, bk.HALTED_AT)]
                )
                if self.target == bk.LIVE:
                    set_halted(conn, self.name, halt)
            write_offsets(
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
