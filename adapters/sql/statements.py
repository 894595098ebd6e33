"""The projection lock and the checkpoint move every live batch runs, as driver SQL built once per dialect.

A live batch is a handful of events: building, cache-keying and compiling
these as SQLAlchemy expressions cost more CPU than the batch's own rows (see
docs/benchmarks.md#live-batch).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from adapters.sql.schema import checkpoints


@dataclass(frozen=True)
class BatchStatements:
    lock: str | None  # PostgreSQL's advisory transaction lock; SQLite: none needed
    move: str  # PostgreSQL: partitions[], befores[], afters[], projection, target; SQLite: one partition per call
    move_all_at_once: bool


@functools.lru_cache(maxsize=8)
def batch_statements(dialect: Any) -> BatchStatements:
    q = dialect.identifier_preparer.quote
    postgres = dialect.name == "postgresql"
    p = "%s" if postgres else "?"
    c = q(checkpoints.name)
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
    return BatchStatements(lock, move, postgres)


def lock_key(projection: str, target: str) -> str:
    return f"orderstream.projection:{projection}:{target}"


def lock(conn: Connection, projection: str, target: str) -> None:
    """Serialise this projection's transactions for ``target`` (until commit).

    SQLite needs nothing more: its writer transactions begin IMMEDIATE.
    """
    sql = batch_statements(conn.dialect).lock
    if sql is not None:
        conn.exec_driver_sql(sql, (lock_key(projection, target),))
