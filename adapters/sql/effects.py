"""The effects outbox: every query of ``reactor_effects`` and ``reactor_live_from``.

Effects are recorded in the reactor's batch transaction, with its rows and
offsets; a key recorded once is never recorded again (``ON CONFLICT DO
NOTHING``), so a replay or a re-delivered event adds nothing. A dispatcher
claims due effects for a lease (``claimed_until``), one order's in the order
they were recorded (an effect waits while an earlier one of the same order
and reactor is pending), delivers them and marks each: dispatched, due again
later, or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from adapters.sql.bulk import UPSERT_CHUNK, bulk_insert_new, chunks
from adapters.sql.schema import EffectStatus, reactor_effects, reactor_live_from
from adapters.sql.state import now


class RecordedEffect(NamedTuple):
    """An effect to record: its key, reactor, kind and JSON payload, its status, and the message it came from."""

    key: str
    reactor: str
    kind: str
    payload: str
    status: EffectStatus
    event_id: str
    aggregate_id: str
    partition: int
    offset: int


class ClaimedEffect(NamedTuple):
    """An effect a dispatcher claimed, to deliver."""

    id: int
    key: str
    reactor: str
    kind: str
    payload: str
    attempts: int


RECORDED_COLUMNS = (
    "key",
    "reactor",
    "kind",
    "payload",
    "status",
    "event_id",
    "aggregate_id",
    "source_partition",
    "source_offset",
    "attempts",
    "created_at",
    "next_attempt_at",
)


def record_effects(conn: Connection, effects: Sequence[RecordedEffect]) -> None:
    """Record ``effects``, numbered in the order given; a key already recorded keeps its record (nothing happens).

    At the driver level (``adapters.sql.bulk``), in chunks: a replay records
    ~10^5 effects per flush, and SQLAlchemy's per-row parameter processing
    was a third of recording's cost (docs/benchmarks.md#reactor-replay).
    """
    if not effects:
        return
    stamp = now()
    bulk = bulk_insert_new(conn.dialect, reactor_effects, RECORDED_COLUMNS, ("key",))
    for chunk in chunks(list(effects), UPSERT_CHUNK):
        rows = [
            # In RECORDED_COLUMNS order; attempts 0, created and due now.
            (e.key, e.reactor, e.kind, e.payload, str(e.status), e.event_id, e.aggregate_id, e.partition, e.offset,
             0, stamp, stamp)  # fmt: skip
            for e in chunk
        ]
        bulk.write(conn, bulk.columns_of_tuples(rows))


def read_live_from(conn: Connection, reactor: str) -> dict[int, int] | None:
    """Per partition, the offset the reactor's effects are delivered from; None if it never started."""
    lf = reactor_live_from.c
    rows = conn.execute(select(lf.partition, lf.live_from).where(lf.reactor == reactor)).all()
    return {int(p): int(o) for p, o in rows} if rows else None


def set_live_from(conn: Connection, reactor: str, offsets: Mapping[int, int]) -> None:
    """Record where the reactor's effects are delivered from (at its first start; kept afterwards)."""
    conn.execute(
        insert(reactor_live_from),
        [{"reactor": reactor, "partition": p, "live_from": o} for p, o in sorted(offsets.items())],
    )


def claim_due(
    conn: Connection, limit: int, lease: timedelta, reactors: Sequence[str] | None = None
) -> list[ClaimedEffect]:
    """Claim up to ``limit`` due effects for ``lease`` (in the caller's transaction), oldest first.

    Due: pending, its next attempt now or past, not claimed by a dispatcher
    whose lease still runs, and no earlier pending effect of the same order
    and reactor (one order's effects are delivered in order). PostgreSQL
    skips rows another dispatcher is claiming at the same moment.
    """
    e = reactor_effects.c
    at = now()
    earlier = aliased(reactor_effects)
    blocked = exists().where(
        and_(
            earlier.c.reactor == e.reactor,
            earlier.c.aggregate_id == e.aggregate_id,
            earlier.c.status == EffectStatus.PENDING,
            earlier.c.id < e.id,
        )
    )
    due = (
        select(e.id)
        .where(
            e.status == EffectStatus.PENDING,
            e.next_attempt_at <= at,
            (e.claimed_until.is_(None)) | (e.claimed_until < at),
            ~blocked,
        )
        .order_by(e.id)
        .limit(limit)
    )
    if reactors is not None:
        due = due.where(e.reactor.in_(list(reactors)))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=reactor_effects)
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    rows = conn.execute(
        update(reactor_effects)
        .where(e.id.in_(ids))
        .values(claimed_until=at + lease)
        .returning(e.id, e.key, e.reactor, e.kind, e.payload, e.attempts)
    ).all()
    return sorted((ClaimedEffect(*row) for row in rows), key=lambda c: c.id)


def mark_dispatched(conn: Connection, effect_id: int, outcome: str) -> None:
    conn.execute(
        update(reactor_effects)
        .where(reactor_effects.c.id == effect_id)
        .values(
            status=EffectStatus.DISPATCHED,
            outcome=outcome,
            dispatched_at=now(),
            claimed_until=None,
            attempts=reactor_effects.c.attempts + 1,
        )
    )


def mark_due_again(conn: Connection, effect_id: int, error: str, next_attempt_at: datetime) -> None:
    """A delivery that may succeed later: pending again, from ``next_attempt_at``."""
    conn.execute(
        update(reactor_effects)
        .where(reactor_effects.c.id == effect_id)
        .values(
            last_error=error,
            next_attempt_at=next_attempt_at,
            claimed_until=None,
            attempts=reactor_effects.c.attempts + 1,
        )
    )


def mark_failed(conn: Connection, effect_id: int, error: str) -> None:
    """Given up on: an operator's to resolve (``orders effects status`` shows it)."""
    conn.execute(
        update(reactor_effects)
        .where(reactor_effects.c.id == effect_id)
        .values(
            status=EffectStatus.FAILED,
            last_error=error,
            claimed_until=None,
            attempts=reactor_effects.c.attempts + 1,
        )
    )


def count_pending(conn: Connection, reactors: Sequence[str] | None = None) -> int:
    """How many effects (of ``reactors``, or all) are still to be delivered."""
    e = reactor_effects.c
    query = select(func.count()).where(e.status == EffectStatus.PENDING)
    if reactors is not None:
        query = query.where(e.reactor.in_(list(reactors)))
    return int(conn.execute(query).scalar_one())


def count_effects(conn: Connection) -> dict[str, dict[str, int]]:
    """Reactor -> status -> how many effects."""
    e = reactor_effects.c
    counts: dict[str, dict[str, int]] = {}
    for reactor, status, n in conn.execute(select(e.reactor, e.status, func.count()).group_by(e.reactor, e.status)):
        counts.setdefault(reactor, {})[status] = int(n)
    return counts


class FailedEffect(NamedTuple):
    key: str
    error: str | None


def failed_effects(conn: Connection, reactor: str, limit: int = 20) -> list[FailedEffect]:
    """The keys and errors of a reactor's failed effects, newest first."""
    e = reactor_effects.c
    rows = conn.execute(
        select(e.key, e.last_error)
        .where(e.reactor == reactor, e.status == EffectStatus.FAILED)
        .order_by(e.id.desc())
        .limit(limit)
    )
    return [FailedEffect(key, error) for key, error in rows]
