"""Every dead-letter query."""

from __future__ import annotations

from sqlalchemy import (
    Connection,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from adapters.kafka.envelope import encode
from adapters.sql import schema as bk
from adapters.sql.engines import now
from projections.engine import DeadLetter


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
