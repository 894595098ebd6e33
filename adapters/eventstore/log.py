"""The event store's notification log read as plain rows, whole or one share of the orders."""

from __future__ import annotations

from typing import Any, NamedTuple

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.application import Orders


class StoredRow(NamedTuple):
    """One stored event as the log holds it."""

    position: int  # the notification id
    order_id: str  # canonical UUID text
    version: int  # the order's version after this event
    topic: str  # the event type
    state: bytes  # eventsourcing's stored state (JSON, unless enciphered or compressed)


class OrderShare(NamedTuple):
    """Share ``number`` of ``total`` shares of the orders (see :func:`order_share`).

    Not ``index`` and ``count``: those would hide the tuple's methods of the same names.
    """

    number: int
    total: int


_HEX = "0123456789abcdef"
ORDER_SHARES = 16  # at most: one per hex digit an order id can end in
# Canonical order ids a SQLite log reader keeps before it starts over
# (docs/benchmarks.md#log-reads).
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
    digits = [d for d in _HEX if int(d, 16) % share.total == share.number]
    others = [d for d in _HEX if int(d, 16) % share.total != share.number]
    if share.number == 0:
        digits.append("")  # order_share of an empty id is 0
    else:
        others.append("")

    def listed(chars: list[str]) -> str:
        return ", ".join(f"'{c}'" for c in sorted({*chars, *(c.upper() for c in chars)}))

    last = f"substr({column}, -1)"
    if 15 % share.total == share.number:  # non-hex last characters count as 15
        return f"{last} NOT IN ({listed(others)})" if others else "1"
    return f"{last} IN ({listed(digits)})"


class StoredLog:
    """The event store's notification log, read as plain rows (no ``Notification`` objects).

    The same rows, in the same order, as the recorder's
    ``select_notifications`` (its own SQL, so the log stays commit-ordered and
    gap-tolerant), without a ``Notification`` and a ``UUID`` per event: on
    PostgreSQL a binary cursor of tuples, on SQLite the recorder's connection.
    Any other recorder (the in-memory one of the unit tests) is read through
    ``select_notifications``.
    """

    # The recorder as the reader chosen in __init__ needs it (only that one is set).
    _postgres: PostgresApplicationRecorder
    _sqlite: SQLiteApplicationRecorder

    def __init__(self, orders: Orders) -> None:
        self._canonical_ids: dict[str, str] = {}  # SQLite: stored order id -> canonical UUID text
        self.recorder = recorder = orders.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            self._postgres = recorder
            self._read = self._read_postgres
        elif isinstance(recorder, SQLiteApplicationRecorder):
            self._sqlite = recorder
            self._read = self._read_sqlite
        else:
            self._read = self._read_recorder

    @property
    def shareable(self) -> bool:
        """Whether :meth:`read` filters a share in the database (else it reads every row)."""
        return self._read != self._read_recorder

    def read(
        self,
        start: int,
        limit: int,
        *,
        inclusive: bool = True,
        stop: int | None = None,
        share: OrderShare | None = None,
    ) -> list[StoredRow]:
        """Up to ``limit`` rows with ids from ``start`` (or after it) up to ``stop``, in id order.

        ``share``: only the rows of the orders in that share.
        """
        return self._read(start, limit, inclusive, stop, share)

    def _read_postgres(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        from psycopg.rows import tuple_row

        query = _postgres_log_query(self._postgres, inclusive, bounded=stop is not None, shared=share is not None)
        params: tuple[int, ...] = (start,) if stop is None else (start, stop)
        if share is not None:
            params += (share.total, share.number)
        params += (limit,)
        with self._postgres.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as cur:
            cur.execute(query, params, prepare=True)
            return list(map(StoredRow._make, cur.fetchall()))

    def _read_sqlite(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        rec = self._sqlite
        params: tuple[int, ...] = (start, _NO_STOP if stop is None else stop)
        shared = "" if share is None else f" AND {sqlite_share_condition(share, 'originator_id')}"
        query = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {rec.events_table_name} "
            f"WHERE rowid {'>=' if inclusive else '>'} ? AND rowid <= ?{shared} ORDER BY rowid LIMIT ?"
        )
        with rec.datastore.transaction(commit=False) as cur:
            # Plain tuples, not eventsourcing's sqlite3.Row objects (docs/benchmarks.md#log-reads).
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
            StoredRow(p, ids.get(o) or ids.setdefault(o, _canonical_uuid(o)), v, t, state) for p, o, v, t, state in rows
        ]

    def _read_recorder(
        self, start: int, limit: int, inclusive: bool, stop: int | None, share: OrderShare | None
    ) -> list[StoredRow]:
        if share is not None:
            raise ValueError("this event store cannot read a share of the log (only SQLite and PostgreSQL can)")
        found = self.recorder.select_notifications(start=start, limit=limit, stop=stop, inclusive_of_start=inclusive)
        return [StoredRow(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in found]


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
