"""Every dead-letter query: record, count, the orders they block, find, resolve, promote.

A dead letter is kept for good (a resolution changes its status, never
deletes it): nothing a projection failed to apply is ever dropped silently.
Its ``payload`` is the raw message value, so a retry decodes exactly what
failed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.kafka.envelope import encode
from adapters.sql.schema import UNRESOLVED, LetterStatus, Target, dead_letters
from adapters.sql.state import StateRow, now
from projections.apply import DeadLetter


class StoredLetter(NamedTuple):
    """A dead letter as stored (the fields a retry or a skip needs)."""

    id: int
    event_id: str | None
    aggregate_id: str | None
    aggregate_version: int | None
    partition: int
    offset: int
    payload: bytes | None
    status: str


_LETTER_COLUMNS = [getattr(dead_letters.c, name) for name in StoredLetter._fields]


def record_dead_letters(conn: Connection, projection: str, target: Target, letters: Sequence[DeadLetter]) -> None:
    """Record ``letters`` with their status.

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
                "status": letter.status,
                "created_at": stamp,
                "resolved_at": None,
            }
        )
    ins = dialect_insert(dead_letters)
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


def count_dead_letters(conn: Connection, projection: str, target: Target = Target.LIVE) -> dict[str, int]:
    """Status -> how many of ``projection``'s dead letters have it."""
    d = dead_letters.c
    rows = conn.execute(
        select(d.status, func.count()).where(d.projection == projection, d.target == target).group_by(d.status)
    )
    return {status: int(n) for status, n in rows}


@functools.lru_cache(maxsize=8)
def blocked_sql(dialect: Any) -> str:
    """:func:`blocked_orders`' statement as driver SQL, built once per dialect (every live batch runs it).

    Parameters: projection, target, then the ``UNRESOLVED`` statuses.
    """
    p = "%s" if dialect.name == "postgresql" else "?"
    statuses = ", ".join(p for _ in UNRESOLVED)
    return (
        f"SELECT aggregate_id, max(aggregate_version) FROM {dialect.identifier_preparer.quote(dead_letters.name)} "
        f"WHERE projection = {p} AND target = {p} AND status IN ({statuses}) AND aggregate_id IS NOT NULL "
        "GROUP BY aggregate_id"
    )


def blocked_orders(conn: Connection, projection: str, target: Target) -> dict[str, int]:
    """Orders with an unresolved dead letter -> the highest version recorded for them."""
    return blocked_from_rows(conn.exec_driver_sql(blocked_sql(conn.dialect), (projection, target, *UNRESOLVED)))


def blocked_from_rows(rows: Iterable[Any]) -> dict[str, int]:
    """:func:`blocked_orders`' result from the rows of its statement (also run in a pipeline)."""
    return {order: int(version or 0) for order, version in rows}


def unresolved_letters(conn: Connection, projection: str) -> list[StoredLetter]:
    """The live dead letters that still block their orders, oldest first."""
    d = dead_letters.c
    rows = conn.execute(
        select(*_LETTER_COLUMNS)
        .where(d.projection == projection, d.target == Target.LIVE, d.status.in_(UNRESOLVED))
        .order_by(d.id)
    )
    return [StoredLetter(*row) for row in rows]


def failed_letter(conn: Connection, projection: str, event: str) -> StoredLetter | None:
    """The newest dead or halted live letter of ``event`` (an event id, or ``PARTITION:OFFSET``)."""
    d = dead_letters.c
    condition = d.event_id == event
    partition, colon, offset = event.partition(":")
    if colon and partition.isdigit() and offset.isdigit():
        condition = (d.partition == int(partition)) & (d.offset == int(offset))
    row = conn.execute(
        select(*_LETTER_COLUMNS)
        .where(
            d.projection == projection,
            d.target == Target.LIVE,
            d.status.in_((LetterStatus.DEAD, LetterStatus.HALTED)),
            condition,
        )
        .order_by(d.id.desc())
    ).first()
    return None if row is None else StoredLetter(*row)


def resolve_letter(conn: Connection, letter_id: int, status: LetterStatus, error: str | None = None) -> None:
    """Set a letter's status: a resolution (applied, skipped) is stamped; dead or parked again keeps it open."""
    values: dict[str, Any] = {"status": status}
    if status in UNRESOLVED:
        if error is not None:
            values["error"] = error
    else:
        values["resolved_at"] = now()
    conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id).values(**values))


def resolve_halted_letter(conn: Connection, projection: str, state: StateRow, status: LetterStatus) -> None:
    """Resolve the letter of the message ``projection`` is halted at (``state``)."""
    d = dead_letters.c
    conn.execute(
        update(dead_letters)
        .where(
            d.projection == projection,
            d.target == Target.LIVE,
            d.partition == state.failing_partition,
            d.offset == state.failing_offset,
            d.status == LetterStatus.HALTED,
        )
        .values(status=status, resolved_at=now())
    )


def letter_error(conn: Connection, projection: str, target: Target, partition: int, offset: int) -> str | None:
    """The error recorded for the message at ``partition``/``offset``."""
    d = dead_letters.c
    return conn.execute(
        select(d.error).where(
            d.projection == projection, d.target == target, d.partition == partition, d.offset == offset
        )
    ).scalar()


def forget_rebuild_letters(conn: Connection, projection: str) -> None:
    d = dead_letters.c
    conn.execute(delete(dead_letters).where(d.projection == projection, d.target == Target.REBUILD))


def promote_rebuild_letters(conn: Connection, projection: str) -> None:
    """The rebuild's dead letters replace the live ones (at the swap)."""
    d = dead_letters.c
    conn.execute(delete(dead_letters).where(d.projection == projection, d.target == Target.LIVE))
    conn.execute(
        update(dead_letters)
        .where(d.projection == projection, d.target == Target.REBUILD)
        .values(target=Target.LIVE)
    )
