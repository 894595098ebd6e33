"""Stored events straight to plain records: the read side's hot path.

``record_of(orders.mapper.to_domain_event(n))`` rebuilds a domain event object
and then takes it apart again. The relay and the embedded projection source
only need the plain values, so this reads eventsourcing's stored JSON
directly: transcoded values (``{"_type_": ..., "_data_": ...}``) become their
JSON forms, the stored ``class_version`` is upcast with the domain's own
upcasters. A unit test holds the result equal to the slow path for every
event type and for v1 history.

:class:`StoredLog` reads the log itself as plain rows, the recorder's own
query without a ``Notification`` per event; given an :class:`OrderShare`,
only the rows of the orders in that share (see :func:`order_share`),
filtered by the database.

Applications with a cipher or a compressor store bytes that are not JSON;
for those, ``decoder_for`` returns the slow path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.application import Orders
from domain.events import EVENT_TYPES, EventRecord, record_of, upcast


# One stored event as the log holds it: (notification id, order id as text,
# aggregate version, topic, state bytes).
StoredRow = tuple[int, str, int, str, bytes]

class OrderShare(NamedTuple):
    """Share ``index`` of ``count`` shares of the orders (see :func:`order_share`)."""

    index: int
    count: int


_HEX = "0123456789abcdef"
ORDER_SHARES = 16  # at most: one per hex digit an order id can end in
# Canonical order ids a SQLite log reader (rebuilds, the relay, the live
# runner) keeps, ~10 MB, before it starts over.
REMEMBERED_ORDER_IDS = 50_000


def order_share(order_id: str, count: int) -> int:
    """The index of the share of ``count`` that an order's events belong to.

    The hex value of the id's last character (15 if it is not a hex digit)
    modulo ``count``: every event of an order falls in one share, and a UUID's
    last digit is uniform, so 2, 4, 8 or 16 shares are even. The reference
    for the SQL that ``StoredLog.read`` runs on each database (a contract
    test holds them equal): cheap enough for every row a share skips.
    """
    return (_HEX.find(order_id[-1:].lower()) + 16) % 16 % count


def sqlite_share_condition(share: OrderShare, column: str) -> str:
    """SQLite: whether ``column`` (an order id) is in ``share``, as :func:`order_share` decides.

    A list of the last characters the share holds (or, for the share that
    non-hex characters fall in, of those it does not): half the cost, per row
    a share skips, of computing the digit's value in SQL.
    """
    digits = [d for d in _HEX if int(d, 16) % share.count == share.index]
    others = [d for d in _HEX if int(d, 16) % share.count != share.index]
    if share.index == 0:
        digits.append("")  # order_share of an empty id is 0
    else:
        others.append("")

    def listed(chars: list[str]) -> str:
        return ", ".join(f"'{c}'" for c in sorted({*chars, *(c.upper() for c in chars)}))

    last = f"substr({column}, -1)"
    if 15 % share.count == share.index:  # non-hex last characters count as 15
        return f"{last} NOT IN ({listed(others)})" if others else "1"
    return f"{last} IN ({listed(digits)})"


def _plain(value: Any) -> Any:
    """``value`` with eventsourcing's transcoded values replaced by their JSON forms.

    Decimal and datetime are stored as ``{"_type_": ..., "_data_": str(value)}``
    and ``value.isoformat()``: exactly the strings the envelope carries.
    """
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            kind, data = value["_type_"], value["_data_"]
            if kind == "decimal_str" or kind == "datetime_iso":
                return data
            if kind == "uuid_hex":
                return str(UUID(data))
            raise ValueError(f"stored event holds a value of unknown type {kind!r}")
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _plain(item)
        return value
    if type(value) is list:
        return [_plain(item) if type(item) is dict or type(item) is list else item for item in value]
    return value


_CURRENT_VERSIONS = {topic: int(getattr(cls, "class_version", 1)) for topic, cls in EVENT_TYPES.items()}


def current_version(topic: str) -> int:
    """The schema version the code publishes ``topic`` at; ValueError for a topic it does not know."""
    current = _CURRENT_VERSIONS.get(topic)
    if current is None:
        raise ValueError(f"stored event has unknown topic {topic!r}")
    return current


def split_state(state: bytes) -> tuple[str, int, dict[str, Any]]:
    """``(occurred_at, stored schema version, data as JSON values)`` of one stored event's JSON state.

    ``data`` is in the *stored* schema (not upcast). Only the values that can
    hold transcoded values (objects and arrays) are walked.
    """
    values = orjson.loads(state)
    stamp = values.pop("timestamp")
    if type(stamp) is dict and len(stamp) == 2 and stamp.get("_type_") == "datetime_iso" and "_data_" in stamp:
        occurred_at = stamp["_data_"]  # every event has one: the common case without a call
    else:
        occurred_at = _plain(stamp)
    values.pop("originator_topic", None)
    schema_version = values.pop("class_version", 1)
    for key, item in values.items():
        if type(item) is dict or type(item) is list:
            values[key] = _plain(item)
    return occurred_at, schema_version, values


def decode_stored(topic: str, originator_id: Any, originator_version: int, state: bytes) -> EventRecord:
    """The plain record of one stored event, in the current schema."""
    current = current_version(topic)
    occurred_at, schema_version, values = split_state(state)
    data = values if schema_version == current else upcast(topic, schema_version, values)
    aggregate_id = str(originator_id)
    # Positional: EventRecord's field order (keywords cost ~0.5 us per event).
    return EventRecord(
        topic,
        current,
        aggregate_id,
        int(originator_version),
        occurred_at,
        data,
    )


def stores_plain_json(orders: Orders) -> bool:
    """Whether ``orders`` stores events as plain JSON (no cipher, no compressor): the fast paths' condition."""
    return orders.mapper.cipher is None and orders.mapper.compressor is None


def decoder_for(orders: Orders) -> Callable[[StoredRow], EventRecord]:
    """stored row (see :class:`StoredLog`) -> EventRecord for this application's stored events."""
    if not stores_plain_json(orders):
        mapper = orders.mapper

        def slow(row: StoredRow) -> EventRecord:
            position, originator_id, version, topic, state = row
            n = Notification(
                id=position, originator_id=UUID(originator_id), originator_version=version, topic=topic, state=state
            )
            return record_of(mapper.to_domain_event(n))

        return slow
    return lambda row: decode_stored(row[3], row[1], row[2], row[4])


# ------------------------------------------------------------- the raw log

class StoredLog:
    """The event store's notification log, read as plain rows (no ``Notification`` objects).

    The same rows, in the same order, as the recorder's
    ``select_notifications`` (its own SQL, so the log stays commit-ordered and
    gap-tolerant), without a ``Notification`` and a ``UUID`` per event: on
    PostgreSQL a binary cursor of tuples, on SQLite the recorder's connection.
    Any other recorder (the in-memory one of the unit tests) is read through
    ``select_notifications``.
    """

    def __init__(self, orders: Orders) -> None:
        self._canonical_ids: dict[str, str] = {}  # SQLite: stored order id -> canonical UUID text
        self.recorder = orders.recorder
        if isinstance(self.recorder, PostgresApplicationRecorder):
            self._read = self._read_postgres
        elif isinstance(self.recorder, SQLiteApplicationRecorder):
            self._read = self._read_sqlite
        else:
            self._read = self._read_recorder

    @property
    def shareable(self) -> bool:
        """Whether :meth:`read` filters a share in the database (else it reads every row)."""
        return self._read != self._read_recorder

    def read(
        self, start: int, limit: int, *, inclusive: bool = True, stop: int | None = None, share: OrderShare | None = None
    ) -> list[StoredRow]:
        """Up to ``limit`` rows with ids from ``start`` (or after it) up to ``stop``, in id order.

        ``share``: only the rows of the orders in that share.
        """
        return self._read(start, limit, inclusive, stop, share)

    def _read_postgres(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        from psycopg.rows import tuple_row

        query = _postgres_log_query(self.recorder, inclusive, bounded=stop is not None, shared=share is not None)
        params: tuple[int, ...] = (start,) if stop is None else (start, stop)
        if share is not None:
            params += (share.count, share.index)
        params += (limit,)
        with self.recorder.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as cur:
            cur.execute(query, params, prepare=True)
            return cur.fetchall()

    def _read_sqlite(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        rec = self.recorder
        params: tuple[int, ...] = (start, _NO_STOP if stop is None else stop)
        shared = "" if share is None else f" AND {sqlite_share_condition(share, 'originator_id')}"
        query = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {rec.events_table_name} "
            f"WHERE rowid {'>=' if inclusive else '>'} ? AND rowid <= ?{shared} ORDER BY rowid LIMIT ?"
        )
        with rec.datastore.transaction(commit=False) as cur:
            # eventsourcing's cursor wraps a sqlite3 cursor whose rows are
            # sqlite3.Row objects; plain tuples cost a third of the read.
            raw = cur.sqlite_cursor
            raw.row_factory = None
            raw.execute(query, (*params, limit))
            rows = raw.fetchall()
        # The recorder stores UUIDs as 32 hex digits; the rows carry the canonical
        # text, made once per order while the order's events keep coming (an
        # order has ~6 events, mostly within a few batches of each other).
        ids = self._canonical_ids
        if len(ids) > REMEMBERED_ORDER_IDS:
            ids.clear()
        return [
            (p, ids.get(o) or ids.setdefault(o, _canonical_uuid(o)), v, t, state) for p, o, v, t, state in rows
        ]

    def _read_recorder(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        if share is not None:
            raise ValueError("this event store cannot read a share of the log (only SQLite and PostgreSQL can)")
        found = self.recorder.select_notifications(start=start, limit=limit, stop=stop, inclusive_of_start=inclusive)
        return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in found]


def _postgres_log_query(recorder: PostgresApplicationRecorder, inclusive: bool, bounded: bool, shared: bool) -> Any:
    """The recorder's ``select_notifications`` SQL: ``notification_id <= stop`` only when bounded.

    ``shared``: only one share of the orders (order_share: the last hex digit of the UUID).

    The upper bound matters to the planner: on a table not yet analyzed (a
    bulk load autovacuum has not reached) a two-sided range is estimated at
    0.5 % of the rows, and PostgreSQL then bitmap-scans and sorts *every* row
    after ``start`` for each read of ``limit`` rows. A one-sided range keeps
    the index scan that stops after ``limit`` rows.
    """
    from psycopg.sql import SQL, Identifier

    return SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id {op} %s{upper}{share} ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
        op=SQL(">=" if inclusive else ">"),
        upper=SQL(" AND notification_id <= %s" if bounded else ""),
        share=SQL(" AND (get_byte(uuid_send(originator_id), 15) & 15) %% %s = %s" if shared else ""),
    )


_NO_STOP = 2**63 - 1


def _canonical_uuid(text: str) -> str:
    """``text`` as 8-4-4-4-12 lower-case UUID text if it is 32 hex digits (as SQLite stores them)."""
    if len(text) != 32:
        return text
    t = text.lower()
    return f"{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:]}"
