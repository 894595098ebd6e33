"""The read-model database: engines, the SQL unit of work, checkpoints, the swap.

Guarantees this module gives the runner:

* **One transaction per batch.** Rows, per-order versions, checkpoints, dead
  letters and the projection's state are written by one ``BEGIN ... COMMIT``
  (:meth:`Store.batch`). A crash before the commit leaves nothing; after it,
  everything.
* **Fenced checkpoints.** A checkpoint is only ever moved from the value the
  writer read: ``UPDATE ... WHERE next_offset = :expected`` (a fresh
  partition: an ``INSERT`` that a concurrent insert makes fail on the primary
  key). A writer whose expectation is stale (it lost its partitions in a
  rebalance, or a rebuild moved the checkpoints under it) gets
  :class:`FencedError` and its whole transaction is rolled back, so a batch is
  never applied twice.
* **Serialised writers per projection and target.** Every batch transaction
  of a projection first takes that projection's lock (PostgreSQL: a
  transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``, the database
  write lock), and only then reads rows. Two consumers of one projection on
  different partitions can then never lose each other's updates to a shared
  row (a customer, a SKU).
* **Atomic swap.** A rebuild fills shadow tables (``<table>__rebuild``) and
  replaces the live tables in one transaction (:func:`swap_in`); readers see
  the old complete tables until that commit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql.elements import conv

from adapters.config import ConfigurationError
from adapters.envelope import encode
from projections import bookkeeping as bk
from projections.contract import Projection
from projections.engine import DeadLetter, Halt, Message, RowCache

SHADOW_SUFFIX = "__rebuild"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WRITER_CACHE_KIB = 128 * 1024  # page cache of a writer connection (SQLite's default: 2 MiB)
# Keys per IN (...) list: one query per table for a whole batch, within the
# bound-parameter limits (PostgreSQL 65535; SQLite 32766 since 3.32, 999 before).
IN_CHUNK = 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
# Tables whose single primary-key column holds the order id are prefetched for
# a whole batch in one query.
ORDER_KEY_COLUMNS = ("aggregate_id", "order_id")
PG_IDENTIFIER_MAX = 63
UPSERT_CHUNK = 10_000


class FencedError(RuntimeError):
    """A checkpoint moved under this writer: re-read the offsets and seek."""


# ----------------------------------------------------------------- engines


def sqlalchemy_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_read_model_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine on the read-model database (nothing connects until first use).

    SQLite: WAL mode (readers never wait for the writer, and keep reading
    their snapshot during a swap), a busy timeout, the file's folder created;
    transactions are begun explicitly so that DDL is transactional, and
    ``writer=True`` begins them ``IMMEDIATE`` (the write lock up front, so a
    batch never fails to upgrade a read lock).
    """
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, writer)
    if url.startswith("postgresql+psycopg://"):
        return create_engine(url, pool_pre_ping=True)
    raise ConfigurationError(
        f"ORDERS_READ_MODEL_URL {url!r} is not supported; use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    )


# Execution option: this connection of a writer engine only reads (SQLite: a
# plain BEGIN, which does not wait for another process's write lock).
READ_ONLY = "orderstream_read_only"


def _sqlite_engine(url: str, writer: bool) -> Engine:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"ORDERS_READ_MODEL_URL {url!r}: the read models need a SQLite file, sqlite:///PATH"
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" below opens the
        # transaction, so DDL (the swap) is transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Safe in WAL mode: a power cut may lose the last commits, never
        # corrupt; rows and checkpoints are lost together and replayed.
        cursor.execute("PRAGMA synchronous=NORMAL")
        if writer:
            # Batches upsert thousands of rows at random keys: keep the tables' pages in memory.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else begin)

    return engine


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------ table targets


@dataclass(frozen=True)
class Tables:
    """Where a projection's tables physically are for one target.

    Handlers name the projection's own (live) ``Table`` objects; ``physical``
    maps each to the table actually written: itself for ``live``, its shadow
    ``<name>__rebuild`` for ``rebuild``.
    """

    projection: type[Projection]
    target: str
    physical: Mapping[Table, Table]

    @property
    def order_keyed(self) -> list[Table]:
        """Tables keyed by the order id alone: prefetched per batch."""
        return [
            t
            for t in self.projection.tables()
            if len(t.primary_key.columns) == 1 and t.primary_key.columns[0].name in ORDER_KEY_COLUMNS
        ]


def live_tables(projection: type[Projection]) -> Tables:
    return Tables(projection, bk.LIVE, {t: t for t in projection.tables()})


def shadow_tables(projection: type[Projection], postgres: bool) -> Tables:
    """The rebuild's shadow copies: same columns and constraints, no secondary indexes.

    On PostgreSQL constraint and index names are unique per schema, so named
    constraints get the shadow suffix too (removed again by the swap).
    """
    shadow_md = MetaData()
    physical: dict[Table, Table] = {}
    for table in projection.tables():
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                raise ConfigurationError(
                    f"table {table.name} of projection {projection.name} declares a foreign key; "
                    "read-model tables must not (a rebuild replaces them one by one)"
                )
        shadow = table.to_metadata(shadow_md, name=shadow_name(table.name))
        for index in list(shadow.indexes):
            shadow.indexes.discard(index)
        if postgres:
            for constraint in shadow.constraints:
                if isinstance(constraint.name, str) and constraint.name:
                    constraint.name = conv(_pg_name(constraint.name + SHADOW_SUFFIX))
        physical[table] = shadow
    return Tables(projection, bk.REBUILD, physical)


def shadow_name(name: str) -> str:
    return name + SHADOW_SUFFIX


def _pg_name(name: str) -> str:
    if len(name) > PG_IDENTIFIER_MAX:
        raise ConfigurationError(
            f"name {name!r} is longer than PostgreSQL's {PG_IDENTIFIER_MAX} characters; "
            "shorten the table, index or constraint name"
        )
    return name


def schema_fingerprint(projection: type[Projection], bind: Engine | Connection) -> str:
    """Identifies the code version and table definitions a rebuild was started with."""
    digest = hashlib.sha256(f"{projection.name}:{projection.version}".encode())
    for table in projection.tables():
        digest.update(str(CreateTable(table).compile(dialect=bind.dialect)).encode())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            digest.update(str(CreateIndex(index).compile(dialect=bind.dialect)).encode())
    return digest.hexdigest()[:32]


# ---------------------------------------------------------- unit of work


class SqlRows(RowCache):
    """The projection's rows for one batch, loaded and written in bulk.

    Before a batch, :meth:`prefetch` loads in one query per table every row
    of the tables keyed by order id that the batch's orders have; any other
    row is loaded on first ``get`` and cached for the batch. :meth:`flush`
    writes every changed row with one bulk upsert per table (and one
    delete per table). All of it on the batch's connection, inside its
    transaction.
    """

    def __init__(self, conn: Connection, tables: Tables) -> None:
        super().__init__()
        self.conn = conn
        self.tables = tables

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        physical = self.tables.physical[table]
        columns = physical.primary_key.columns
        if len(key) != len(columns):
            raise ValueError(f"{table.name} has a {len(columns)}-column primary key, got key {key!r}")
        condition = and_(*(c == v for c, v in zip(columns, key)))
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
        fetch = _bulk_select(self.conn.dialect, self.tables.physical[table])
        # PostgreSQL: the keys as one binary array (= ANY); SQLite: IN (?, ...),
        # chunked within its bound-parameter limit.
        for chunk in [keys] if fetch.array else _chunks(keys, IN_CHUNK):
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
            bulk = _bulk_upsert(self.conn.dialect, physical)
            # Chunks of UPSERT_CHUNK rows: a rebuild's flush of ~10^5 rows
            # would otherwise convert them all at once (memory).
            for chunk in _chunks(upserts, UPSERT_CHUNK):
                columns = bulk.columns_of(chunk)
                if bulk.arrays:
                    # PostgreSQL: one statement per chunk, every column as one
                    # array unnested server side (executemany would send one
                    # statement per row).
                    self.conn.exec_driver_sql(bulk.sql, tuple(columns))
                else:
                    self.conn.exec_driver_sql(bulk.sql, list(zip(*columns)))
            written += len(upserts)
            if deletes:
                pk = list(physical.primary_key.columns)
                condition = and_(*(c == bindparam(f"k_{c.name}") for c in pk))
                self.conn.execute(
                    delete(physical).where(condition),
                    [{f"k_{c.name}": v for c, v in zip(pk, key)} for key in deletes],
                )
                written += len(deletes)
        return written


@dataclass(frozen=True)
class _BulkUpsert:
    """A driver-level upsert of a table's rows: SQL, the column names and their bind conversions."""

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
        columns = [list(column) for column in zip(*tuples)]
        for index, process in self.processors:
            columns[index] = [process(value) for value in columns[index]]
        return columns


@functools.lru_cache(maxsize=256)
def _bulk_upsert(dialect: Any, table: Table) -> _BulkUpsert:
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
    postgres = dialect.name == "postgresql"
    if others:
        excluded = "EXCLUDED" if postgres else "excluded"
        action = "DO UPDATE SET " + ", ".join(f"{q(n)} = {excluded}.{q(n)}" for n in others)
    else:
        action = "DO NOTHING"
    if postgres:
        arrays = ", ".join(f"CAST(%b AS {c.type.compile(dialect=dialect)}[])" for c in columns)
        source = f"SELECT * FROM unnest({arrays})"
    else:
        source = f"VALUES ({', '.join('?' for _ in columns)})"
    sql = (
        f"INSERT INTO {q(table.name)} ({', '.join(q(c.name) for c in columns)}) "
        f"{source} ON CONFLICT ({', '.join(q(n) for n in pk)}) {action}"
    )
    processors = tuple(
        (i, process)
        for i, c in enumerate(columns)
        if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    )
    return _BulkUpsert(sql, tuple(c.name for c in columns), processors, postgres)


@dataclass(frozen=True)
class _BulkSelect:
    """A driver-level select of a table's rows by their single-column primary key."""

    sql: str  # PostgreSQL: one array parameter; SQLite: ends with "IN ", the caller adds "(?, ...)"
    names: tuple[str, ...]
    processors: tuple[tuple[str, Any], ...]  # (name, result processor) where the type has one
    array: bool

    def row(self, values: Any) -> dict[str, Any]:
        row = dict(zip(self.names, values))
        for name, process in self.processors:
            row[name] = process(row[name])
        return row


@functools.lru_cache(maxsize=256)
def _bulk_select(dialect: Any, table: Table) -> _BulkSelect:
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
    return _BulkSelect(sql, tuple(c.name for c in columns), tuple(processors), array)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ------------------------------------------------------------ bookkeeping


@dataclass(frozen=True)
class StateRow:
    projection: str
    version: int
    state: str
    last_error: str | None
    failing_event_id: str | None
    failing_partition: int | None
    failing_offset: int | None
    rebuild_fingerprint: str | None


def lock(conn: Connection, projection: str, target: str) -> None:
    """Serialise this projection's batch transactions for ``target`` (until commit).

    SQLite needs nothing more: its writer transactions begin IMMEDIATE.
    """
    sql = _bookkeeping(conn.dialect).lock
    if sql is not None:
        conn.exec_driver_sql(sql, (_lock_key(projection, target),))


def _lock_key(projection: str, target: str) -> str:
    return f"orderstream.projection:{projection}:{target}"


@dataclass(frozen=True)
class _Bookkeeping:
    """The statements every batch runs, as driver SQL.

    A live batch is a handful of events: building, cache-keying and compiling
    these as SQLAlchemy expressions cost more CPU than the batch's own rows.
    """

    lock: str | None  # PostgreSQL's advisory transaction lock; SQLite: none needed
    blocked: str  # params: projection, target, *UNRESOLVED
    move: str  # PostgreSQL: partitions[], befores[], afters[], projection, target; SQLite: one partition per call
    move_all_at_once: bool


@functools.lru_cache(maxsize=8)
def _bookkeeping(dialect: Any) -> _Bookkeeping:
    q = dialect.identifier_preparer.quote
    postgres = dialect.name == "postgresql"
    p = "%s" if postgres else "?"
    d, c = q(bk.dead_letters.name), q(bk.checkpoints.name)
    statuses = ", ".join(p for _ in bk.UNRESOLVED)
    blocked = (
        f"SELECT aggregate_id, max(aggregate_version) FROM {d} WHERE projection = {p} AND target = {p} "
        f"AND status IN ({statuses}) AND aggregate_id IS NOT NULL GROUP BY aggregate_id"
    )
    where = f"{c}.projection = {p} AND {c}.target = {p}"
    if postgres:
        # Every partition of the batch in one statement: each row moves only
        # from its expected offset.
        move = (
            f"UPDATE {c} SET next_offset = m.after FROM unnest(CAST(%s AS integer[]), CAST(%s AS bigint[]), "
            f"CAST(%s AS bigint[])) AS m(part, before, after) WHERE {where} "
            f"AND {c}.{q('partition')} = m.part AND {c}.next_offset = m.before"
        )
    else:
        move = f"UPDATE {c} SET next_offset = ? WHERE {where} AND {q('partition')} = ? AND next_offset = ?"
    lock = "SELECT pg_advisory_xact_lock(hashtext(%s))" if postgres else None
    return _Bookkeeping(lock, blocked, move, postgres)


def read_offsets(conn: Connection, projection: str, target: str) -> dict[int, int]:
    c = bk.checkpoints.c
    rows = conn.execute(
        select(c.partition, c.next_offset).where(c.projection == projection, c.target == target)
    )
    return {int(p): int(o) for p, o in rows}


def write_offsets(
    conn: Connection,
    projection: str,
    target: str,
    expected: Mapping[int, int | None],
    new: Mapping[int, int],
) -> None:
    """Move each partition's checkpoint from ``expected[p]`` to ``new[p]``, or raise FencedError.

    ``expected[p]`` None means "no checkpoint yet": the row is inserted, and a
    row inserted meanwhile by another writer fails it on the primary key.
    """
    moves: dict[int, tuple[int, int]] = {}  # partition -> (before, after)
    for partition, offset in sorted(new.items()):
        before = expected.get(partition)
        if before == offset:
            continue
        if before is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(bk.checkpoints).values(
                            projection=projection, target=target, partition=partition, next_offset=offset
                        )
                    )
            except IntegrityError:
                raise FencedError(
                    f"{projection} ({target}) partition {partition}: another writer created the "
                    "checkpoint first"
                ) from None
            continue
        moves[partition] = (before, offset)
    if not moves:
        return
    sql = _bookkeeping(conn.dialect)
    if sql.move_all_at_once:
        # One round trip for every partition of the batch (a live batch of a
        # few events spans most partitions).
        parts = list(moves)
        moved = conn.exec_driver_sql(
            sql.move,
            (parts, [moves[x][0] for x in parts], [moves[x][1] for x in parts], projection, target),
        ).rowcount
    else:
        moved = sum(
            conn.exec_driver_sql(sql.move, (after, projection, target, x, before)).rowcount
            for x, (before, after) in moves.items()
        )
    # Fewer rows moved than partitions: another writer moved one first.
    if moved != len(moves):
        stored = read_offsets(conn, projection, target)
        # Rows this UPDATE moved are at their new offset now (until the rollback).
        partition = next((p for p, (_, after) in moves.items() if stored.get(p) != after), min(moves))
        before = moves[partition][0]
        raise FencedError(
            f"{projection} ({target}) partition {partition}: checkpoint is no longer at "
            f"{before} (another writer moved it)"
        )


def replace_offsets(conn: Connection, projection: str, target: str, offsets: Mapping[int, int]) -> None:
    """Make ``offsets`` the only checkpoints of ``projection`` for ``target`` (in the caller's transaction)."""
    c = bk.checkpoints.c
    conn.execute(delete(bk.checkpoints).where(c.projection == projection, c.target == target))
    if offsets:
        conn.execute(
            insert(bk.checkpoints),
            [
                {"projection": projection, "target": target, "partition": p, "next_offset": o}
                for p, o in sorted(offsets.items())
            ],
        )


def read_state(conn: Connection, projection: str) -> StateRow | None:
    s = bk.projection_state.c
    row = conn.execute(select(bk.projection_state).where(s.projection == projection)).mappings().first()
    if row is None:
        return None
    return StateRow(
        projection=row["projection"],
        version=row["version"],
        state=row["state"],
        last_error=row["last_error"],
        failing_event_id=row["failing_event_id"],
        failing_partition=row["failing_partition"],
        failing_offset=row["failing_offset"],
        rebuild_fingerprint=row["rebuild_fingerprint"],
    )


def ensure_state(conn: Connection, projection: type[Projection]) -> StateRow:
    """The projection's state row, created (running, at the code's version) if new."""
    state = read_state(conn, projection.name)
    if state is not None:
        return state
    # Insert-if-absent: a concurrent runner may create it at the same moment.
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        bk.projection_state
    ).on_conflict_do_nothing(index_elements=["projection"])
    conn.execute(
        stmt,
        {
            "projection": projection.name,
            "version": projection.version,
            "state": bk.RUNNING,
            "updated_at": now(),
        },
    )
    state = read_state(conn, projection.name)
    assert state is not None
    return state


def set_halted(conn: Connection, projection: str, halt: Halt) -> None:
    s = bk.projection_state.c
    conn.execute(
        update(bk.projection_state)
        .where(s.projection == projection)
        .values(
            state=bk.HALTED,
            last_error=halt.error,
            failing_event_id=halt.message.event_id,
            failing_partition=halt.message.partition,
            failing_offset=halt.message.offset,
            updated_at=now(),
        )
    )


def set_running(conn: Connection, projection: str, **values: Any) -> None:
    s = bk.projection_state.c
    conn.execute(
        update(bk.projection_state)
        .where(s.projection == projection)
        .values(
            state=bk.RUNNING,
            last_error=None,
            failing_event_id=None,
            failing_partition=None,
            failing_offset=None,
            updated_at=now(),
            **values,
        )
    )


def set_rebuild_fingerprint(conn: Connection, projection: str, fingerprint: str | None) -> None:
    s = bk.projection_state.c
    conn.execute(
        update(bk.projection_state)
        .where(s.projection == projection)
        .values(rebuild_fingerprint=fingerprint, updated_at=now())
    )


def blocked_orders(conn: Connection, projection: str, target: str) -> dict[str, int]:
    """Orders with an unresolved dead letter -> the highest version recorded for them."""
    return _blocked(conn.exec_driver_sql(_bookkeeping(conn.dialect).blocked, (projection, target, *bk.UNRESOLVED)))


def _blocked(rows: Iterable[Any]) -> dict[str, int]:
    return {order: int(version or 0) for order, version in rows}


def open_batch(rows: SqlRows, projection: str, target: str, orders: Iterable[str]) -> dict[str, int]:
    """The start of a live batch's transaction on ``rows.conn``: :func:`lock`, then
    :func:`blocked_orders` (returned), then ``orders``' rows of every order-keyed
    table read into ``rows``.

    PostgreSQL: the statements go in one psycopg pipeline, sent in this order
    and answered in one round trip instead of five (BEGIN, the lock, the
    blocked orders, one read per table); each still runs after the lock is
    granted. On a busy machine every round trip waits for the server process
    to be scheduled, so a live batch spends less time in its transaction.
    A failure is raised as SQLAlchemy's exception (:func:`_as_sqlalchemy_error`).
    """
    conn = rows.conn
    keys = sorted(orders)
    if not _pipelines(conn.dialect):
        lock(conn, projection, target)
        blocked = blocked_orders(conn, projection, target)
        rows.prefetch_orders(keys)
        return blocked
    statements = _bookkeeping(conn.dialect)
    pg = conn.connection.driver_connection
    try:
        with contextlib.ExitStack() as cursors:
            reads: list[tuple[Table, _BulkSelect, Any]] = []
            with pg.pipeline():
                cursors.enter_context(pg.cursor()).execute(statements.lock, (_lock_key(projection, target),))
                blocked_rows = cursors.enter_context(pg.cursor())
                blocked_rows.execute(statements.blocked, (projection, target, *bk.UNRESOLVED))
                for table in rows.tables.order_keyed if keys else ():
                    fetch = _bulk_select(conn.dialect, rows.tables.physical[table])
                    read = cursors.enter_context(pg.cursor())
                    read.execute(fetch.sql, (keys,))
                    reads.append((table, fetch, read))
            for table, fetch, read in reads:
                rows.seed(table, map(fetch.row, read.fetchall()), ((k,) for k in keys))
            return _blocked(blocked_rows.fetchall())
    except conn.dialect.loaded_dbapi.Error as e:
        raise _as_sqlalchemy_error(conn, e) from e


@functools.lru_cache(maxsize=8)
def _pipelines(dialect: Any) -> bool:
    """Whether ``dialect``'s connections can send statements in a pipeline (psycopg 3 on libpq 14 or later)."""
    return dialect.driver == "psycopg" and bool(dialect.loaded_dbapi.Pipeline.is_supported())


def _as_sqlalchemy_error(conn: Connection, error: Exception) -> DBAPIError:
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


def insert_dead_letters(
    conn: Connection, projection: str, target: str, letters: list[DeadLetter], status: str | None = None
) -> None:
    """Record ``letters`` (with their own status, or ``status``).

    The same message recorded again (same partition and offset: it failed
    again after a retry) updates its record instead.
    """
    if not letters:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stamp = now()
    params = []
    for letter in letters:
        m = letter.message
        e = m.event
        params.append(
            {
                "projection": projection,
                "target": target,
                "event_id": e.event_id if e else None,
                "event_type": e.event_type if e else None,
                "aggregate_id": m.aggregate_id,
                "aggregate_version": e.aggregate_version if e else None,
                "partition": m.partition,
                "offset": m.offset,
                "payload": m.payload if m.payload is not None or e is None else encode(e, m.offset).value,
                "error": letter.error,
                "status": status or letter.status,
                "created_at": stamp,
                "resolved_at": None,
            }
        )
    ins = dialect_insert(bk.dead_letters)
    stmt = ins.on_conflict_do_update(
        index_elements=["projection", "target", "partition", "offset"],
        set_={
            "status": ins.excluded.status,
            "error": ins.excluded.error,
            "payload": ins.excluded.payload,
            "resolved_at": None,
        },
    )
    conn.execute(stmt, params)


def count_dead_letters(conn: Connection, projection: str, target: str = bk.LIVE) -> dict[str, int]:
    d = bk.dead_letters.c
    rows = conn.execute(
        select(d.status, func.count())
        .where(d.projection == projection, d.target == target)
        .group_by(d.status)
    )
    return {status: int(n) for status, n in rows}


# ---------------------------------------------------------------- rebuild


def existing_tables(bind: Engine | Connection) -> set[str]:
    return set(inspect(bind).get_table_names())


def drop_shadow(conn: Connection, tables: Tables) -> None:
    """Drop leftover shadow tables and forget the rebuild's checkpoints and dead letters."""
    present = existing_tables(conn)
    for table in reversed(list(tables.physical.values())):
        if table.name in present:
            conn.execute(DropTable(table))
    forget_rebuild(conn, tables.projection.name)


def forget_rebuild(conn: Connection, projection: str) -> None:
    c = bk.checkpoints.c
    d = bk.dead_letters.c
    conn.execute(delete(bk.checkpoints).where(c.projection == projection, c.target == bk.REBUILD))
    conn.execute(delete(bk.dead_letters).where(d.projection == projection, d.target == bk.REBUILD))


def create_shadow(conn: Connection, tables: Tables) -> None:
    """Create the shadow tables (no secondary indexes: they are built once, at the end)."""
    for table in tables.physical.values():
        conn.execute(CreateTable(table))


def shadow_index(index: Index, shadow: Table, name: str) -> Index:
    columns = [shadow.c[c.name] for c in index.columns]
    if len(columns) != len(index.expressions):
        raise ConfigurationError(
            f"index {index.name} of {index.table.name} has expressions; read-model indexes "  # type: ignore[union-attr]
            "must list plain columns so a rebuild can recreate them"
        )
    return Index(conv(name), *columns, unique=index.unique, _table=shadow, **index.kwargs)


def index_shadow_pg(conn: Connection, tables: Tables) -> None:
    """PostgreSQL: build the secondary indexes on the shadow tables, before the swap.

    They get the shadow suffix and are renamed in the swap, which then stays
    short (readers block on the swap's locks only for a moment). A resumed
    rebuild may find them built already (it was killed after this transaction
    committed and before the swap did): ``IF NOT EXISTS``.
    """
    for table, shadow in tables.physical.items():
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            name = _pg_name(_index_name(index) + SHADOW_SUFFIX)
            conn.execute(CreateIndex(shadow_index(index, shadow, name), if_not_exists=True))
        shadow.indexes.clear()  # built now; never re-created from the metadata


def _index_name(index: Index) -> str:
    if not index.name:
        raise ConfigurationError(
            f"an index of {index.table.name} has no name; name it (Index('ix_...', ...))"  # type: ignore[union-attr]
        )
    return str(index.name)


def swap_in(conn: Connection, tables: Tables) -> None:
    """Replace the live tables by the shadow ones, in the caller's transaction.

    Also moves the rebuild checkpoints and dead letters to live (replacing the
    old ones) and records the projection's code version as built. A live
    runner holding the old checkpoints is fenced by its next write.
    """
    projection = tables.projection
    lock(conn, projection.name, bk.LIVE)
    postgres = conn.dialect.name == "postgresql"
    present = existing_tables(conn)
    for table, shadow in tables.physical.items():
        if table.name in present:
            conn.execute(DropTable(table))
        conn.execute(text(f"ALTER TABLE {_q(conn, shadow.name)} RENAME TO {_q(conn, table.name)}"))
        if postgres:
            _rename_pg_relations(conn, shadow.name, table.name)
        else:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index))

    c = bk.checkpoints.c
    d = bk.dead_letters.c
    conn.execute(delete(bk.checkpoints).where(c.projection == projection.name, c.target == bk.LIVE))
    conn.execute(
        update(bk.checkpoints)
        .where(c.projection == projection.name, c.target == bk.REBUILD)
        .values(target=bk.LIVE)
    )
    conn.execute(delete(bk.dead_letters).where(d.projection == projection.name, d.target == bk.LIVE))
    conn.execute(
        update(bk.dead_letters)
        .where(d.projection == projection.name, d.target == bk.REBUILD)
        .values(target=bk.LIVE)
    )
    set_running(conn, projection.name, version=projection.version, rebuild_fingerprint=None)


def _rename_pg_relations(conn: Connection, shadow: str, live: str) -> None:
    """Give the renamed table's constraints, indexes and sequences their live names.

    Otherwise the next rebuild's shadow table would collide with names like
    ``<table>__rebuild_pkey`` still held by the live table.
    """
    constraints = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype IN ('p', 'u', 'c', 'x')"
        ),
        {"t": live},
    ).scalars().all()
    for name in constraints:
        fixed = _live_name(name, shadow, live)
        if fixed != name:
            conn.execute(
                text(f"ALTER TABLE {_q(conn, live)} RENAME CONSTRAINT {_q(conn, name)} TO {_q(conn, fixed)}")
            )
    # Constraint renames rename their indexes; what is left are plain indexes
    # and sequences owned by the table's columns.
    relations = conn.execute(
        text(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE i.indrelid = CAST(:t AS regclass) "
            "UNION ALL "
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_depend d ON d.objid = c.oid "
            "WHERE c.relkind = 'S' AND d.refobjid = CAST(:t AS regclass) AND d.deptype IN ('a', 'i')"
        ),
        {"t": live},
    ).all()
    for name, kind in relations:
        fixed = _live_name(name, shadow, live)
        if fixed != name:
            keyword = "SEQUENCE" if kind == "S" else "INDEX"
            conn.execute(text(f"ALTER {keyword} {_q(conn, name)} RENAME TO {_q(conn, fixed)}"))


def _live_name(name: str, shadow: str, live: str) -> str:
    if name.endswith(SHADOW_SUFFIX):
        return name[: -len(SHADOW_SUFFIX)]
    if name.startswith(shadow):
        return live + name[len(shadow) :]
    return name


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)
