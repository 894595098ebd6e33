"""A rebuild's rows: kept in memory across batches, read back only when they may be stored.

A rebuild fills shadow tables that nothing but the rebuild writes, so it does
not need to read its rows back for every batch. :class:`ReplayRows` keeps the
rows it has seen; a row not in memory is read from the shadow table unless
the rows know there is none: when the shadow tables were created empty for
this rebuild, a key never seen has no row. Memory is bounded: beyond
``max_cached_rows`` rows per table the oldest clean rows are dropped after a
flush (and read again if needed); past ``MAX_EVICTED_KEYS`` dropped keys it
stops remembering them and looks every key not in memory up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table

from adapters.sql.engines import READ_ONLY
from adapters.sql.retries import retry_on_database
from adapters.sql.rows import SqlRows, Tables
from projections.apply import Message

MAX_EVICTED_KEYS = 500_000  # keys remembered as "stored, not in memory" before every miss is looked up


class ReplayRows(SqlRows):
    """A projection's shadow rows, cached across batches.

    ``complete`` says the shadow tables were created empty by this worker and
    nobody else wrote them since: then a key not cached and never evicted has
    no row, and is not looked up.
    """

    def __init__(self, engine: Engine, tables: Tables, *, complete: bool, max_cached_rows: int) -> None:
        super().__init__(None, tables)  # bound to a connection per read or flush
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

        def read_back() -> None:
            with self._reading():
                for table, keys in misses.items():
                    self.prefetch_keys(table, keys)

        retry_on_database(read_back, "rebuild: reading rows back")

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
        with self.engine.connect() as conn, self.bound_to(conn.execution_options(**{READ_ONLY: True})):
            try:
                yield
            finally:
                conn.rollback()


def _first(cache: dict[Any, Any], n: int) -> Iterable[Any]:
    for i, key in enumerate(cache):
        if i == n:
            return
        yield key
