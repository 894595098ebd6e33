"""Resolving a projection's failures: retry its dead letters and halt, or skip one message.

Each order's dead letters are re-applied in version order, in one
transaction per order under the projection's lock (the undecodable first:
they block). A halted projection handed back by a retry or a skip is then
run until caught up, from the message it stopped at (or just past it).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.bootstrap import System
from adapters.kafka.source import decode_payload
from adapters.runner.halts import prepare
from adapters.runner.live import run_until_caught_up
from adapters.runner.reactions import Reactions
from adapters.runner.stats import RunStats
from adapters.sql.dead_letters import StoredLetter
from adapters.sql.migrations import check_schema
from adapters.sql.rows import live_tables
from adapters.sql.schema import LetterStatus
from adapters.sql.store import ProjectionStore, RetriedLetter
from projections.apply import Message, apply_batch
from projections.contract import Projection
from reactors.contract import Reactor


@dataclass
class RetryStats:
    applied: int = 0  # dead letters applied (or found already applied)
    still_dead: int = 0
    still_parked: int = 0
    resumed: bool = False  # a halted projection was set running again
    run: RunStats | None = None


def retry(system: System, projection: type[Projection]) -> RetryStats:
    """Re-apply ``projection``'s dead letters (each order's in version order), and
    resume it if halted: it then runs from the message it stopped at, until
    caught up (or halted again)."""
    check_schema(system.read_models_for_reading, system.settings, [projection])
    prepare(system.read_models, projection)
    store = ProjectionStore(system.read_models, live_tables(projection))
    stats = RetryStats()
    _retry_dead_letters(system, store, stats, orders_only=None)
    stats.resumed = store.resume()
    if stats.resumed:
        stats.run = run_until_caught_up(system, [projection])
    return stats


def skip(system: System, projection: type[Projection], event: str) -> RetryStats:
    """Skip one failed message (by event id, or ``PARTITION:OFFSET``), recorded as ``skipped``.

    The order's version is set past it, so its later events apply. A halted
    projection's checkpoint moves past the message and it resumes; a dead
    letter's parked successors are retried.
    """
    check_schema(system.read_models_for_reading, system.settings, [projection])
    prepare(system.read_models, projection)
    store = ProjectionStore(system.read_models, live_tables(projection))
    stats = RetryStats()
    letter = store.skip(event)
    stats.resumed = letter.status == LetterStatus.HALTED
    if letter.status == LetterStatus.DEAD and letter.aggregate_id is not None:
        _retry_dead_letters(system, store, stats, {letter.aggregate_id})
    if stats.resumed:
        stats.run = run_until_caught_up(system, [projection])
    return stats


def _retry_dead_letters(
    system: System, store: ProjectionStore, stats: RetryStats, orders_only: set[str] | None
) -> None:
    groups: dict[str, list[StoredLetter]] = {}
    for letter in store.unresolved_letters():
        if orders_only is not None and letter.aggregate_id not in orders_only:
            continue
        groups.setdefault(letter.aggregate_id or f"#{letter.id}", []).append(letter)
    projection = store.projection()
    reactions = Reactions(projection, store.read_live_from() or {}) if isinstance(projection, Reactor) else None
    for group in groups.values():
        retried = [RetriedLetter(_message_of(system, letter), letter.id) for letter in group]
        # Still-undecodable messages first (they block), then in version order.
        retried.sort(key=lambda r: (r.message.event is not None, _version(r.message), r.message.offset))
        messages = [r.message for r in retried]
        if reactions is not None:
            reactions.discard()
        with store.batch(orders={m.aggregate_id for m in messages if m.aggregate_id is not None}) as batch:
            result = apply_batch(projection, batch.rows, messages)
            counts = batch.resolve_retried(retried, result)
            if reactions is not None:
                batch.record_effects(reactions.take(messages))
        stats.applied += counts.applied
        stats.still_dead += counts.still_dead
        stats.still_parked += counts.still_parked


def _message_of(system: System, letter: StoredLetter) -> Message:
    """A dead letter's message, decoded again (by the code running now)."""
    if system.uses_kafka:
        return decode_payload(letter.partition, letter.offset, letter.payload)
    return system.embedded_source.refetch(letter.partition, letter.offset, letter.payload)


def _version(message: Message) -> int:
    return message.event.aggregate_version if message.event is not None else 0
