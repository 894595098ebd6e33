"""A projection's rows in SQL: where its tables are for a target, and the unit of work of one batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    select,
)

from adapters.sql.bulk import IN_CHUNK, UPSERT_CHUNK, bulk_select, bulk_upsert, chunks
from adapters.sql.schema import Target
from projections.apply import Message, RowCache
from projections.contract import Projection

# Tables whose single primary-key column holds the order id are prefetched for
# a whole batch in one query.
ORDER_KEY_COLUMNS = ("aggregate_id", "order_id")


def keyed_by_order(table: Table) -> bool:
    """Whether ``table``'s primary key is the order id alone: its rows depend on one order's events."""
    return len(table.primary_key.columns) == 1 and table.primary_key.columns[0].name in ORDER_KEY_COLUMNS


def all_keyed_by_order(projection: type[Projection]) -> bool:
    """Every table of ``projection`` is keyed by the order id alone (a rebuild can then be split by order)."""
    return all(keyed_by_order(t) for t in projection.tables())


@dataclass(frozen=True)
class Tables:
    """Where a projection's tables physically are for one target.

    Handlers name the projection's own (live) ``Table`` objects; ``physical``
    maps each to the table actually written: itself for ``live``, its shadow
    ``<name>__rebuild`` for ``rebuild``.
    """

    projection: type[Projection]
    target: Target
    physical: Mapping[Table, Table]

    @property
    def order_keyed(self) -> list[Table]:
        """Tables keyed by the order id alone: prefetched per batch."""
        return [t for t in self.projection.tables() if keyed_by_order(t)]


def live_tables(projection: type[Projection]) -> Tables:
    return Tables(projection, Target.LIVE, {t: t for t in projection.tables()})


class SqlRows(RowCache):
    """The projection's rows for one batch, loaded and written in bulk.

    Before a batch, :meth:`prefetch` loads in one query per table every row
    of the tables keyed by order id that the batch's orders have; any other
    row is loaded on first ``get`` and cached for the batch. :meth:`flush`
    writes every changed row with one bulk upsert per table (and one
    delete per table). All of it on the batch's connection, inside its
    transaction.
    """

    def __init__(self, conn: Connection | None, tables: Tables) -> None:
        super().__init__()
        self.conn: Connection = conn  # type: ignore[assignment]  # None until bound (see bound_to)
        self.tables = tables

    @contextmanager
    def bound_to(self, conn: Connection) -> Iterator[None]:
        """Read and write on ``conn`` meanwhile (rows kept across transactions: a rebuild's)."""
        previous, self.conn = self.conn, conn
        try:
            yield
        finally:
            self.conn = previous

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        physical = self.tables.physical[table]
        columns = physical.primary_key.columns
        if len(key) != len(columns):
            raise ValueError(f"{table.name} has a {len(columns)}-column primary key, got key {key!r}")
        condition = and_(*(c == v for c, v in zip(columns, key, strict=False)))  # lengths checked above
        row = self.conn.execute(select(physical).where(condition)).mappings().first()
        return None if row is None else dict(row)

    def prefetch(self, messages: Iterable[Message]) -> None:
        self.prefetch_orders({m.aggregate_id for m in messages if m.aggregate_id is not None})

    def prefetch_orders(self, orders: Iterable[str]) -> None:
        """Load the rows of every order-keyed table for ``orders``."""
        for table in self.tables.order_keyed:
            self.prefetch_keys(table, orders)

    def prefetch_keys(self, table: Table, orders: Iterable[str]) -> None:
        """Load (and cache, absent ones included) the rows of order-keyed ``table`` for ``orders``."""
        keys = sorted(orders)
        if not keys:
            return
        fetch = bulk_select(self.conn.dialect, self.tables.physical[table])
        # PostgreSQL: the keys as one binary array (= ANY); SQLite: IN (?, ...),
        # chunked within its bound-parameter limit.
        for chunk in [keys] if fetch.array else chunks(keys, IN_CHUNK):
            if fetch.array:
                found = self.conn.exec_driver_sql(fetch.sql, (chunk,)).all()
            else:
                sql = f"{fetch.sql}({', '.join('?' * len(chunk))})"
                found = self.conn.exec_driver_sql(sql, tuple(chunk)).all()
            self.seed(table, map(fetch.row, found), ((k,) for k in chunk))

    def flush(self) -> int:
        """Write every change; the number of rows written."""
        written = 0
        for table, upserts, deletes in self.changes():
            physical = self.tables.physical[table]
            bulk = bulk_upsert(self.conn.dialect, physical)
            # Chunks of UPSERT_CHUNK rows: a rebuild's flush of ~10^5 rows
            # would otherwise convert them all at once (memory).
            for chunk in chunks(upserts, UPSERT_CHUNK):
                bulk.write(self.conn, bulk.columns_of(chunk))
            written += len(upserts)
            if deletes:
                pk = list(physical.primary_key.columns)
                condition = and_(*(c == bindparam(f"k_{c.name}") for c in pk))
                self.conn.execute(
                    delete(physical).where(condition),
                    # A handler's delete() key is not checked against the primary key: refuse a
                    # key of another length here rather than delete by part of it.
                    [{f"k_{c.name}": v for c, v in zip(pk, key, strict=True)} for key in deletes],
                )
                written += len(deletes)
        return written
