"""Resolving failures: retry dead letters and halts, skip one message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update

from adapters.config import ConfigurationError, Settings
from adapters.kafka.source import decode_payload
from adapters.runner.live import run_until_caught_up
from adapters.runner.setup import Sources, prepare, writer_engine
from adapters.runner.stats import RunStats
from adapters.sql import schema as bk
from adapters.sql.bookkeeping import StateRow, lock, set_running, write_offsets
from adapters.sql.engines import now
from adapters.sql.migrations import check_schema
from adapters.sql.rows import SqlRows, live_tables
from domain.application import Orders
from projections.contract import Projection
from projections.engine import (
    Message,
    Outcome,
    apply_batch,
)


@dataclass
class RetryStats:
    applied: int = 0  # dead letters applied (or found already applied)
    still_dead: int = 0
    still_parked: int = 0
    resumed: bool = False  # a halted projection was set running again
    run: RunStats | None = None


def retry(
    settings: Settings,
    projection: type[Projection],
    orders: Orders | None = None,
) -> RetryStats:
    """Re-apply ``projection``'s dead letters (each order's in version order), and
    resume it if halted: it then runs from the message it stopped at, until
    caught up (or halted again)."""
    engine = writer_engine(settings)
    stats = RetryStats()
    try:
        check_schema(engine, settings, [projection])
        sources = Sources(settings, orders)
        state = prepare(engine, projection)
        _retry_dead_letters(engine, sources, projection, stats, orders_only=None)
        if state.state == bk.HALTED:
            with engine.begin() as conn:
                lock(conn, projection.name, bk.LIVE)
                _mark_halted_letter(conn, projection.name, state, bk.RETRIED)
                set_running(conn, projection.name)
            stats.resumed = True
    finally:
        engine.dispose()
    if stats.resumed:
        stats.run = run_until_caught_up(settings, [projection], orders=orders)
    return stats


def _mark_halted_letter(conn: Any, name: str, state: StateRow, status: str) -> None:
    d = bk.dead_letters.c
    conn.execute(
        update(bk.dead_letters)
        .where(
            d.projection == name,
            d.target == bk.LIVE,
            d.partition == state.failing_partition,
            d.offset == state.failing_offset,
            d.status == bk.HALTED_AT,
        )
        .values(status=status, resolved_at=now())
    )


def _retry_dead_letters(
    engine: Engine,
    sources: Sources,
    projection: type[Projection],
    stats: RetryStats,
    orders_only: set[str] | None,
) -> None:
    d = bk.dead_letters.c
    with engine.connect() as conn:
        letters = conn.execute(
            select(d.id, d.aggregate_id, d.partition, d.offset, d.payload)
            .where(d.projection == projection.name, d.target == bk.LIVE, d.status.in_(bk.UNRESOLVED))
            .order_by(d.id)
        ).all()
        conn.rollback()
    groups: dict[str, list[Any]] = {}
    for letter in letters:
        if orders_only is not None and letter.aggregate_id not in orders_only:
            continue
        groups.setdefault(letter.aggregate_id or f"#{letter.id}", []).append(letter)
    tables = live_tables(projection)
    instance = projection()
    for group in groups.values():
        by_message: list[tuple[Message, int]] = []
        for letter in group:
            if sources.kafka is not None:
                message = decode_payload(letter.partition, letter.offset, letter.payload)
            else:
                message = sources.embedded.refetch(letter.partition, letter.offset, letter.payload)
            by_message.append((message, letter.id))
        # Still-undecodable messages first (they block), then in version order.
        by_message.sort(key=lambda m: (m[0].event is not None, m[0].event.aggregate_version if m[0].event else 0, m[0].offset))
        with engine.begin() as conn:
            lock(conn, projection.name, bk.LIVE)
            rows = SqlRows(conn, tables)
            messages = [m for m, _ in by_message]
            rows.prefetch(messages)
            result = apply_batch(instance, rows, messages)
            rows.flush()
            ids = {id(m): letter_id for m, letter_id in by_message}
            errors = {id(dl.message): dl.error for dl in result.dead_letters}
            for message, outcome in result.outcomes:
                letter_id = ids[id(message)]
                if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
                    values: dict[str, Any] = {"status": bk.APPLIED, "resolved_at": now()}
                    stats.applied += 1
                elif outcome in (Outcome.DEAD, Outcome.HALTED):
                    error = errors.get(id(message)) or (result.halt.error if result.halt else None)
                    values = {"status": bk.DEAD, "error": error}
                    stats.still_dead += 1
                else:
                    values = {"status": bk.PARKED}
                    stats.still_parked += 1
                conn.execute(update(bk.dead_letters).where(d.id == letter_id).values(**values))
            stats.still_parked += len(messages) - len(result.outcomes)


def skip(
    settings: Settings,
    projection: type[Projection],
    event: str,
    orders: Orders | None = None,
) -> RetryStats:
    """Skip one failed message (by event id, or ``PARTITION:OFFSET``), recorded as ``skipped``.

    The order's version is set past it, so its later events apply. A halted
    projection's checkpoint moves past the message and it resumes; a dead
    letter's parked successors are retried.
    """
    engine = writer_engine(settings)
    d = bk.dead_letters.c
    stats = RetryStats()
    try:
        check_schema(engine, settings, [projection])
        state = prepare(engine, projection)
        with engine.begin() as conn:
            lock(conn, projection.name, bk.LIVE)
            condition = d.event_id == event
            if ":" in event:
                partition, _, offset = event.partition(":")
                if partition.isdigit() and offset.isdigit():
                    condition = (d.partition == int(partition)) & (d.offset == int(offset))
            letter = conn.execute(
                select(bk.dead_letters)
                .where(
                    d.projection == projection.name,
                    d.target == bk.LIVE,
                    d.status.in_((bk.DEAD, bk.HALTED_AT)),
                    condition,
                )
                .order_by(d.id.desc())
            ).mappings().first()
            if letter is None:
                raise ConfigurationError(
                    f"projection {projection.name} has no failed message {event!r} to skip; "
                    "see `orders projections status` for the failing event"
                )
            if letter["status"] == bk.HALTED_AT and not (
                state.state == bk.HALTED
                and state.failing_partition == letter["partition"]
                and state.failing_offset == letter["offset"]
            ):
                raise ConfigurationError(f"message {event!r} is not where {projection.name} is halted")
            conn.execute(
                update(bk.dead_letters).where(d.id == letter["id"]).values(status=bk.SKIPPED, resolved_at=now())
            )
            if letter["aggregate_id"] is not None and letter["aggregate_version"] is not None:
                rows = SqlRows(conn, live_tables(projection))
                current = rows.get(projection.versions, letter["aggregate_id"])
                if current is None or current["version"] < letter["aggregate_version"]:
                    rows.put(projection.versions, {"aggregate_id": letter["aggregate_id"], "version": letter["aggregate_version"]})
                    rows.flush()
            if letter["status"] == bk.HALTED_AT:
                write_offsets(
                    conn,
                    projection.name,
                    bk.LIVE,
                    {letter["partition"]: letter["offset"]},
                    {letter["partition"]: letter["offset"] + 1},
                )
                set_running(conn, projection.name)
                stats.resumed = True
        if letter["status"] == bk.DEAD and letter["aggregate_id"] is not None:
            _retry_dead_letters(engine, Sources(settings, orders), projection, stats, {letter["aggregate_id"]})
    finally:
        engine.dispose()
    if stats.resumed:
        stats.run = run_until_caught_up(settings, [projection], orders=orders)
    return stats
