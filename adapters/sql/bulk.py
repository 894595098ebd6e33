"""Driver-level bulk SQL: upserts and keyed selects built once per table, and psycopg pipelines."""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Table,
)
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIModule

# Keys per IN (...) list: one query per table for a whole batch, within the
# bound-parameter limits (PostgreSQL 65535; SQLite 32766 since 3.32, 999 before).
IN_CHUNK = 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
UPSERT_CHUNK = 10_000


@dataclass(frozen=True)
class BulkUpsert:
    """A driver-level upsert (or insert of new rows): SQL, the column names and their bind conversions."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[tuple[int, Any], ...]  # (column index, the column type's bind processor)
    arrays: bool  # PostgreSQL: one array per column; SQLite: one tuple per row (executemany)

    def columns_of(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """One list of values per column (bind conversions applied); a missing column is NULL."""
        names = self.names
        getter = operator.itemgetter(*names)
        try:
            tuples = [getter(row) for row in rows] if len(names) > 1 else [(getter(row),) for row in rows]
        except KeyError:
            tuples = [tuple(row.get(name) for name in names) for row in rows]
        return self.columns_of_tuples(tuples)

    def columns_of_tuples(self, tuples: list[tuple[Any, ...]]) -> list[list[Any]]:
        """One list of values per column (bind conversions applied), from rows given as tuples in ``names`` order."""
        # Every tuple has len(names) values by construction: no per-row strict check.
        columns = [list(column) for column in zip(*tuples, strict=False)]
        for index, process in self.processors:
            columns[index] = [process(value) for value in columns[index]]
        return columns

    def write(self, conn: Connection, columns: list[list[Any]]) -> None:
        """Run the statement for these rows (:meth:`columns_of`) in ``conn``'s transaction."""
        if self.arrays:
            # PostgreSQL: one statement, every column as one array unnested
            # server side (executemany would send one statement per row).
            conn.exec_driver_sql(self.sql, tuple(columns))
        else:
            # Every column holds as many values by construction.
            conn.exec_driver_sql(self.sql, list(zip(*columns, strict=False)))


@functools.lru_cache(maxsize=256)
def bulk_upsert(dialect: Any, table: Table) -> BulkUpsert:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE every other column, for the DBAPI directly.

    Each value still goes through its column type's bind conversion (Money,
    JSON, DateTime on SQLite, ...), applied here rather than by SQLAlchemy's
    per-row parameter processing. PostgreSQL: ``INSERT INTO t (cols) SELECT *
    FROM unnest(%b::type[], ...)``, the arrays sent in binary (psycopg's text
    array format quotes every element with regular expressions, several
    times slower). SQLite: ``VALUES (?, ...)`` through executemany.
    """
    q = dialect.identifier_preparer.quote
    columns = list(table.columns)
    pk = [c.name for c in table.primary_key.columns]
    others = [c.name for c in columns if c.name not in pk]
    if others:
        excluded = "EXCLUDED" if dialect.name == "postgresql" else "excluded"
        action = "DO UPDATE SET " + ", ".join(f"{q(n)} = {excluded}.{q(n)}" for n in others)
    else:
        action = "DO NOTHING"
    return _bulk_insert(dialect, table, columns, pk, action)


@functools.lru_cache(maxsize=64)
def bulk_insert_new(dialect: Any, table: Table, names: tuple[str, ...], unique: tuple[str, ...]) -> BulkUpsert:
    """INSERT of the columns ``names`` ... ON CONFLICT (``unique``) DO NOTHING, for the DBAPI directly.

    As :func:`bulk_upsert` (bind conversions, binary arrays on PostgreSQL),
    for rows of which those already stored (by the ``unique`` columns) are
    left as they are; the columns not named take their defaults. Rows are
    inserted in the order given (PostgreSQL's ``unnest`` yields the array in
    order), so an autoincrement key numbers them in that order.
    """
    return _bulk_insert(dialect, table, [table.c[n] for n in names], list(unique), "DO NOTHING")


def _bulk_insert(
    dialect: Any, table: Table, columns: list[Column[Any]], conflict: list[str], action: str
) -> BulkUpsert:
    q = dialect.identifier_preparer.quote
    postgres = dialect.name == "postgresql"
    if postgres:
        arrays = ", ".join(f"CAST(%b AS {c.type.compile(dialect=dialect)}[])" for c in columns)
        source = f"SELECT * FROM unnest({arrays})"
    else:
        source = f"VALUES ({', '.join('?' for _ in columns)})"
    sql = (
        f"INSERT INTO {q(table.name)} ({', '.join(q(c.name) for c in columns)}) "
        f"{source} ON CONFLICT ({', '.join(q(n) for n in conflict)}) {action}"
    )
    processors = tuple(
        (i, process)
        for i, c in enumerate(columns)
        if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    )
    return BulkUpsert(sql, tuple(c.name for c in columns), processors, postgres)


@dataclass(frozen=True)
class BulkSelect:
    """A driver-level select of a table's rows by their single-column primary key."""

    sql: str  # PostgreSQL: one array parameter; SQLite: ends with "IN ", the caller adds "(?, ...)"
    names: tuple[str, ...]
    processors: tuple[tuple[str, Any], ...]  # (name, result processor) where the type has one
    array: bool

    def row(self, values: Any) -> dict[str, Any]:
        row = dict(zip(self.names, values, strict=False))  # the selected columns are ``names``
        for name, process in self.processors:
            row[name] = process(row[name])
        return row


@functools.lru_cache(maxsize=256)
def bulk_select(dialect: Any, table: Table) -> BulkSelect:
    """``SELECT cols FROM t WHERE pk = ANY(%b)`` (PostgreSQL) or ``... IN (?, ...)`` (SQLite).

    Rows come back as plain tuples and only the columns whose type converts
    results (Money, ...) are converted: SQLAlchemy's expanding ``IN`` renders
    one bound parameter per key, which costs more than the query itself for a
    batch of thousands of orders.
    """
    q = dialect.identifier_preparer.quote
    columns = list(table.columns)
    (key,) = table.primary_key.columns
    array = dialect.name == "postgresql"
    if array:
        where = f"{q(key.name)} = ANY(CAST(%b AS {key.type.compile(dialect=dialect)}[]))"
    else:
        where = f"{q(key.name)} IN "
    sql = f"SELECT {', '.join(q(c.name) for c in columns)} FROM {q(table.name)} WHERE {where}"
    processors = []
    for c in columns:
        process = c.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            processors.append((c.name, process))
    return BulkSelect(sql, tuple(c.name for c in columns), tuple(processors), array)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@functools.lru_cache(maxsize=8)
def pipelines_supported(dialect: Any) -> bool:
    """Whether ``dialect``'s connections can send statements in a pipeline (psycopg 3 on libpq 14 or later)."""
    return dialect.driver == "psycopg" and bool(dialect.loaded_dbapi.Pipeline.is_supported())


def as_sqlalchemy_error(conn: Connection, error: DBAPIModule.Error) -> DBAPIError:
    """``error``, raised by the driver past SQLAlchemy, as the exception SQLAlchemy raises for it.

    The same exception class (an ``OperationalError`` stays one, so a batch
    retries it), and a lost connection is invalidated so that the pool
    replaces it instead of handing it out again. (SQLAlchemy would also
    recycle the pool's other connections then; the writer engine pings each
    one before use instead.)
    """
    lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
    if lost:
        conn.invalidate(error)
    wrapped = DBAPIError.instance(
        None, None, error, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=conn.dialect
    )
    assert isinstance(wrapped, DBAPIError)
    return wrapped
