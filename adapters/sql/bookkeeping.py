"""The framework's bookkeeping statements: the projection lock, checkpoints, state."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from adapters.sql import schema as bk
from adapters.sql.bulk import BulkSelect, as_sqlalchemy_error, bulk_select, pipelines_supported
from adapters.sql.engines import now
from adapters.sql.rows import SqlRows
from projections.contract import Projection
from projections.engine import Halt


class FencedError(RuntimeError):
    """A checkpoint moved under this writer: re-read the offsets and seek."""


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
    A failure is raised as SQLAlchemy's exception (:func:`as_sqlalchemy_error`).
    """
    conn = rows.conn
    keys = sorted(orders)
    if not pipelines_supported(conn.dialect):
        lock(conn, projection, target)
        blocked = blocked_orders(conn, projection, target)
        rows.prefetch_orders(keys)
        return blocked
    statements = _bookkeeping(conn.dialect)
    pg = conn.connection.driver_connection
    try:
        with contextlib.ExitStack() as cursors:
            reads: list[tuple[Table, BulkSelect, Any]] = []
            with pg.pipeline():
                cursors.enter_context(pg.cursor()).execute(statements.lock, (_lock_key(projection, target),))
                blocked_rows = cursors.enter_context(pg.cursor())
                blocked_rows.execute(statements.blocked, (projection, target, *bk.UNRESOLVED))
                for table in rows.tables.order_keyed if keys else ():
                    fetch = bulk_select(conn.dialect, rows.tables.physical[table])
                    read = cursors.enter_context(pg.cursor())
                    read.execute(fetch.sql, (keys,))
                    reads.append((table, fetch, read))
            for table, fetch, read in reads:
                rows.seed(table, map(fetch.row, read.fetchall()), ((k,) for k in keys))
            return _blocked(blocked_rows.fetchall())
    except conn.dialect.loaded_dbapi.Error as e:
        raise as_sqlalchemy_error(conn, e) from e
