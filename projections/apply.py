"""Applying a batch of messages to a projection: the framework's guarantees.

Pure: no database, no broker, no clock (the backoff ``sleep`` is injected).
The runner hands it plain values (:class:`Message`) and a unit of work
(:class:`RowCache`), and writes what it returns in one SQL transaction.

Per message, in order:

1. A message that could not be decoded (a *poison* message) is a failure.
2. An event whose aggregate version is at or below the last version this
   projection applied for that order is a duplicate (a re-published tail, a
   redelivery): dropped and counted, never applied twice.
3. An event of an order that is *blocked* (an earlier event of it is in the
   dead-letter table) is parked behind it: never applied out of order.
4. An event whose version is not the next one for its order (a gap, or a
   first event that is not version 1) is a failure (:class:`VersionGapError`).
5. Otherwise the handler runs and the order's version is recorded, both
   through the unit of work. A handler that raises is retried a few times
   with backoff (its partial writes rolled back each time), then it is a
   failure.

A failure is handled by the projection's ``error_policy``: ``halt`` stops the
batch at the failing message (everything before it is still committed) and
the runner marks the projection halted; ``dead-letter`` records the message
as dead, blocks its order, and carries on with the other orders.

A storage failure while loading a row (:class:`RowsUnavailableError`) is not
a handler failure: it propagates, the runner rolls the transaction back and
retries the batch.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Final, NamedTuple

from sqlalchemy import JSON, Table

from domain.records import EventRecord
from projections.contract import Projection, Rows

HANDLER_ATTEMPTS = 3
HANDLER_BACKOFF = 0.01  # seconds before the 2nd attempt; doubles each time


class _Missing(Enum):
    """Not cached (a cached row can be None: known absent); an enum so that ``is`` narrows the type."""

    MISSING = 0


_MISSING: Final = _Missing.MISSING
_ONLY = operator.itemgetter(0)
_NOTHING_BLOCKED: Mapping[str, int] = {}


class VersionGapError(Exception):
    """An order's events arrived with a version missing in between."""

    def __init__(self, aggregate_id: str, expected: int, got: int) -> None:
        super().__init__(
            f"version gap for order {aggregate_id}: expected version {expected}, got {got}"
        )
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.got = got


class RowsUnavailableError(RuntimeError):
    """Loading a row failed (the database, not the handler): retry the batch."""


class Message(NamedTuple):
    """One message from a source, decoded (``event``) or poison (``error``).

    Immutable; a named tuple for the same reason as ``EventRecord``: one per
    event read.

    ``payload`` is the raw message value (kept for dead letters); ``key`` is,
    for a poison message, the order id it was sent under (when the source
    knows it), so that it can still block its order.
    """

    partition: int
    offset: int
    event: EventRecord | None
    payload: bytes | None = None
    error: str | None = None
    key: str | None = None

    @property
    def aggregate_id(self) -> str | None:
        return self.event.aggregate_id if self.event is not None else self.key

    @property
    def event_id(self) -> str | None:
        return self.event.event_id if self.event is not None else None

    def describe(self) -> str:
        where = f"partition {self.partition} offset {self.offset}"
        if self.event is None:
            return f"message at {where}"
        e = self.event
        return f"{e.event_type} {e.event_id} (order {e.aggregate_id} version {e.aggregate_version}) at {where}"


class Outcome(StrEnum):
    """What became of one message; a dead letter's status is DEAD, PARKED or HALTED."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD = "dead"
    PARKED = "parked"
    HALTED = "halted"


class TableChanges(NamedTuple):
    """One table's changes in a unit of work: rows to upsert and keys to delete, in key order."""

    table: Table
    upserts: list[dict[str, Any]]
    deletes: list[tuple[Any, ...]]


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    error: str | None
    status: Outcome  # DEAD, PARKED, or HALTED (the message a halt-policy projection stopped at)


@dataclass(frozen=True)
class Halt:
    """Where a ``halt`` projection stopped, and why."""

    message: Message
    error: str


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    halt: Halt | None = None
    # Per partition, the first offset not consumed (the checkpoint to store).
    next_offsets: dict[int, int] = field(default_factory=dict)
    # Orders blocked (or parked further) in this batch -> highest version recorded.
    blocked: dict[str, int] = field(default_factory=dict)
    # What became of each message, in the order given: outcomes[i] is messages[i]'s (up to a halt).
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def dead(self) -> int:
        return sum(1 for d in self.dead_letters if d.status is Outcome.DEAD)

    @property
    def parked(self) -> int:
        return sum(1 for d in self.dead_letters if d.status is Outcome.PARKED)

    @property
    def consumed(self) -> int:
        return len(self.outcomes) - (1 if self.halt is not None else 0)


class RowCache(Rows):
    """A unit of work over a projection's tables, held in memory for a batch.

    ``get`` answers from the cache, else from :meth:`load` (cached, absent
    rows included); ``put``/``delete`` change the cache and mark the key
    dirty; :meth:`changes` lists what to write. Between :meth:`begin_event`
    and :meth:`end_event` every change is journaled so that
    :meth:`rollback_event` can undo a failed handler's partial writes.

    Returned rows are copies: a handler can change them freely, only ``put``
    changes the store.
    """

    def __init__(self) -> None:
        self._rows: dict[Table, dict[tuple[Any, ...], dict[str, Any] | None]] = {}
        self._dirty: dict[Table, set[tuple[Any, ...]]] = {}
        self._journal: list[tuple[Table, tuple[Any, ...], dict[str, Any] | None | _Missing, bool]] | None = None
        self._pk: dict[Table, tuple[str, ...]] = {}
        self._json: dict[Table, tuple[str, ...]] = {}

    # -- the port ---------------------------------------------------------

    def get(self, table: Table, *key: Any) -> dict[str, Any] | None:
        entry = self._entry(table, key)
        if entry is None:
            return None
        return self._copy(table, entry) if self._json[table] else dict(entry)

    def put(self, table: Table, row: dict[str, Any]) -> None:
        pk = self._pk.get(table) or self.primary_key(table)
        try:
            key = (row[pk[0]],) if len(pk) == 1 else tuple(row[name] for name in pk)
        except KeyError as e:
            raise ValueError(f"a row put into {table.name} lacks primary-key column {e}") from None
        self._change(table, key, self._copy(table, row) if self._json[table] else dict(row))

    def delete(self, table: Table, *key: Any) -> None:
        self._change(table, key, None)

    # -- for the framework ------------------------------------------------

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The stored row with this key (subclasses read the database)."""
        return None

    def last_version(self, versions: Table, order: str) -> int:
        """The last aggregate version recorded for ``order`` in ``versions`` (0: none)."""
        entry = self._entry(versions, (order,))
        return 0 if entry is None else entry["version"]

    def record_version(self, versions: Table, order: str, version: int) -> None:
        """Record ``order``'s last applied version (after its handler succeeded: not journaled).

        Follows :meth:`last_version` for the same order, which set the table up.
        """
        key = (order,)
        self._rows[versions][key] = {"aggregate_id": order, "version": version}
        self._dirty[versions].add(key)

    def seed(self, table: Table, rows: Iterable[dict[str, Any]], keys: Iterable[tuple[Any, ...]] = ()) -> None:
        """Cache stored ``rows`` (and ``keys`` known to have no row) without dirtying them."""
        cache = self._rows.setdefault(table, {})
        pk = self.primary_key(table)
        for key in keys:
            cache.setdefault(key, None)
        for row in rows:
            cache[tuple(row[name] for name in pk)] = row

    def cached(self, table: Table, key: tuple[Any, ...]) -> bool:
        return key in self._rows.get(table, {})

    def primary_key(self, table: Table) -> tuple[str, ...]:
        pk = self._pk.get(table)
        if pk is None:
            pk = self._pk[table] = tuple(c.name for c in table.primary_key.columns)
            self._json[table] = tuple(c.name for c in table.columns if isinstance(c.type, JSON))
            self._rows.setdefault(table, {})
            self._dirty.setdefault(table, set())
        return pk

    def begin_event(self) -> None:
        self._journal = []

    def end_event(self) -> None:
        self._journal = None

    def rollback_event(self) -> None:
        """Undo every change since :meth:`begin_event`."""
        journal, self._journal = self._journal or [], None
        for table, key, previous, was_dirty in reversed(journal):
            cache = self._rows[table]
            if previous is _MISSING:
                cache.pop(key, None)
            else:
                cache[key] = previous
            if not was_dirty:
                self._dirty[table].discard(key)

    def changes(self) -> list[TableChanges]:
        """Per table: the rows to upsert and the keys to delete, in key order.

        Key order: writing a B-tree in order touches each page once.
        """
        out = []
        for table, dirty in self._dirty.items():
            # One-column keys sorted by their value: comparing 1-tuples costs twice as much.
            keys = sorted(dirty, key=_ONLY) if len(self.primary_key(table)) == 1 else sorted(dirty)
            cache = self._rows[table]
            rows = [cache[k] for k in keys]
            upserts = [row for row in rows if row is not None]
            # rows is built from keys: equal lengths by construction, no per-row strict check.
            deletes = [k for k, row in zip(keys, rows, strict=False) if row is None] if len(upserts) < len(rows) else []
            if upserts or deletes:
                out.append(TableChanges(table, upserts, deletes))
        return out

    def clear(self) -> None:
        self._rows.clear()
        self._dirty.clear()
        self._pk.clear()
        self._journal = None

    # -- internals --------------------------------------------------------

    def _entry(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The cached row (not a copy), loaded and cached first if unknown."""
        cache = self._rows.get(table)
        if cache is None:
            self.primary_key(table)
            cache = self._rows[table]
        entry = cache.get(key, _MISSING)
        if entry is _MISSING:
            try:
                entry = self.load(table, key)
            except Exception as e:
                raise RowsUnavailableError(f"could not load a row of {table.name}: {e}") from e
            cache[key] = entry
        return entry

    def _change(self, table: Table, key: tuple[Any, ...], row: dict[str, Any] | None) -> None:
        cache = self._rows.get(table)
        if cache is None:
            self.primary_key(table)
            cache = self._rows[table]
        dirty = self._dirty.get(table)
        if dirty is None:
            dirty = self._dirty[table] = set()
        if self._journal is not None:
            self._journal.append((table, key, cache.get(key, _MISSING), key in dirty))
        cache[key] = row
        dirty.add(key)

    def _copy(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        copy = dict(row)
        for name in self._json[table]:
            if name in copy:
                copy[name] = _copy_json(copy[name])
        return copy


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def apply_batch(
    projection: Projection,
    rows: RowCache,
    messages: Iterable[Message],
    blocked: Mapping[str, int] = _NOTHING_BLOCKED,
    *,
    attempts: int = HANDLER_ATTEMPTS,
    backoff: float = HANDLER_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchResult:
    """Apply ``messages`` (in source order) to ``projection`` through ``rows``.

    ``blocked`` maps each order already parked behind a dead letter to the
    highest version of it in the dead-letter table (0 if none is known): a
    re-delivered copy of a parked event is a duplicate, not parked twice. Nothing
    is written anywhere but ``rows``; the caller commits ``rows`` together
    with ``result.next_offsets``, ``result.dead_letters`` and, if
    ``result.halt``, the halted state, in one transaction.
    """
    result = BatchResult()
    versions = projection.versions
    handlers = projection.bound_handlers()
    dead_letter = projection.error_policy == "dead-letter"
    mid_stream = projection.starts_mid_stream
    next_offsets = result.next_offsets
    outcomes = result.outcomes
    newly_blocked = result.blocked
    last_version = rows.last_version
    record_version = rows.record_version
    any_blocked = bool(blocked)

    for message in messages:
        event = message.event
        failure: str | None = None
        if event is None:
            failure = message.error or "message could not be decoded"
        else:
            order = event.aggregate_id
            last = last_version(versions, order)
            version = event.aggregate_version
            if version <= last:
                result.duplicates += 1
                outcomes.append(Outcome.DUPLICATE)
                next_offsets[message.partition] = message.offset + 1
                continue
            parked_up_to = newly_blocked.get(order, blocked.get(order)) if (any_blocked or newly_blocked) else None
            if parked_up_to is not None:
                if version <= parked_up_to:
                    result.duplicates += 1
                    outcomes.append(Outcome.DUPLICATE)
                else:
                    result.dead_letters.append(DeadLetter(message, None, Outcome.PARKED))
                    outcomes.append(Outcome.PARKED)
                    newly_blocked[order] = version
                next_offsets[message.partition] = message.offset + 1
                continue
            if version != last + 1 and not (last == 0 and mid_stream):
                failure = str(VersionGapError(order, last + 1, version))
            else:
                handler = handlers.get(event.event_type)
                if handler is not None:
                    rows.begin_event()
                    try:
                        handler(rows, event)
                    except RowsUnavailableError:
                        rows.rollback_event()
                        raise
                    except Exception as e:  # retried, then the error policy decides
                        rows.rollback_event()
                        failure = _retry(handler, rows, event, e, attempts, backoff, sleep)
                    else:
                        rows.end_event()
                if failure is None:
                    record_version(versions, order, version)
                    result.applied += 1
                    outcomes.append(Outcome.APPLIED)
                    next_offsets[message.partition] = message.offset + 1
                    continue

        if not dead_letter:
            result.halt = Halt(message, failure)
            outcomes.append(Outcome.HALTED)
            break
        result.dead_letters.append(DeadLetter(message, failure, Outcome.DEAD))
        outcomes.append(Outcome.DEAD)
        to_block = message.aggregate_id
        if to_block is not None:
            known = newly_blocked.get(to_block, blocked.get(to_block, 0))
            newly_blocked[to_block] = max(known, event.aggregate_version if event is not None else 0)
        next_offsets[message.partition] = message.offset + 1
    return result


def _retry(
    handler: Callable[[Rows, EventRecord], None],
    rows: RowCache,
    event: EventRecord,
    first: Exception,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> str | None:
    """The handler raised ``first``: run it again, with backoff, up to ``attempts`` runs in all.

    None once a run succeeds; else the last error. Each failed run's writes are rolled back.
    """
    error = f"{type(first).__name__}: {first}"
    for attempt in range(1, max(1, attempts)):
        sleep(backoff * 2 ** (attempt - 1))
        rows.begin_event()
        try:
            handler(rows, event)
        except RowsUnavailableError:
            rows.rollback_event()
            raise
        except Exception as e:
            rows.rollback_event()
            error = f"{type(e).__name__}: {e}"
            continue
        rows.end_event()
        return None
    return f"handler failed after {max(1, attempts)} attempts: {error}"
