"""Where the relay keeps how far it published: one row per topic in the event-store database.

The port :class:`CheckpointStore`, and its one implementation
:class:`CheckpointTable` over a DB-API connection; SQLite and PostgreSQL
differ only in their SQL (:data:`SQLITE`, :data:`POSTGRES`). ``save`` never
moves a checkpoint backwards, so a repeated or late write is harmless.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from adapters.config import PostgresLocation, Settings

CHECKPOINT_TABLE = "orderstream_relay_checkpoints"


class CheckpointStore(ABC):
    """Where the relay keeps, per topic, the last notification id Kafka acknowledged.

    It lives in the event-store database (table ``orderstream_relay_checkpoints``:
    ``topic`` primary key, ``notification_id``, ``updated_at``), so the events
    and the relay's progress are backed up and restored together. ``save`` never
    moves a checkpoint backwards.
    """

    @abstractmethod
    def load(self, topic: str) -> int:
        """The checkpoint of ``topic`` (0 when the relay never published to it)."""

    @abstractmethod
    def save(self, topic: str, notification_id: int) -> None:
        """Record that everything up to ``notification_id`` is in ``topic``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class CheckpointSql(NamedTuple):
    """The checkpoint table's statements in one database's dialect."""

    create: str
    load: str
    save: str  # an upsert that keeps the larger notification id


SQLITE = CheckpointSql(
    create=(
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
        "topic TEXT PRIMARY KEY, notification_id INTEGER NOT NULL, "
        "updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ),
    load=f"SELECT notification_id FROM {CHECKPOINT_TABLE} WHERE topic = ?",
    save=(
        f"INSERT INTO {CHECKPOINT_TABLE} (topic, notification_id) VALUES (?, ?) "
        "ON CONFLICT (topic) DO UPDATE SET "
        "notification_id = max(notification_id, excluded.notification_id), "
        "updated_at = CURRENT_TIMESTAMP"
    ),
)

POSTGRES = CheckpointSql(
    # Under a lock: two relays (or a relay and `relay status`) creating the
    # table at once would otherwise collide on PostgreSQL's catalog.
    create=(
        f"BEGIN; SELECT pg_advisory_xact_lock(hashtext('{CHECKPOINT_TABLE}')); "
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
        "topic text PRIMARY KEY, notification_id bigint NOT NULL, "
        "updated_at timestamptz NOT NULL DEFAULT now()); COMMIT"
    ),
    load=f"SELECT notification_id FROM {CHECKPOINT_TABLE} WHERE topic = %s",
    save=(
        f"INSERT INTO {CHECKPOINT_TABLE} (topic, notification_id) VALUES (%s, %s) "
        "ON CONFLICT (topic) DO UPDATE SET "
        f"notification_id = GREATEST({CHECKPOINT_TABLE}.notification_id, excluded.notification_id), "
        "updated_at = now()"
    ),
)


class CheckpointTable(CheckpointStore):
    """The checkpoint table over a DB-API connection in autocommit mode, opened (and created) on first use.

    ``connect`` opens the connection; ``sql`` is the table's SQL in its
    dialect. A connection that reports itself closed (psycopg's do, after a
    lost server) is opened again on the next call.
    """

    def __init__(self, connect: Callable[[], Any], sql: CheckpointSql) -> None:
        self._connect = connect
        self._sql = sql
        self._conn: Any = None

    @classmethod
    def sqlite(cls, path: Path) -> CheckpointTable:
        def connect() -> sqlite3.Connection:
            path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)

        return cls(connect, SQLITE)

    @classmethod
    def postgres(cls, location: PostgresLocation) -> CheckpointTable:
        def connect() -> Any:
            import psycopg

            return psycopg.connect(
                host=location.host, port=location.port, user=location.user, password=location.password,
                dbname=location.dbname,
                autocommit=True, connect_timeout=10,
            )

        return cls(connect, POSTGRES)

    def load(self, topic: str) -> int:
        row = self._execute(self._sql.load, (topic,))
        return int(row[0]) if row else 0

    def save(self, topic: str, notification_id: int) -> None:
        self._execute(self._sql.save, (topic, notification_id))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _execute(self, statement: str, params: tuple[Any, ...]) -> Any:
        """Run ``statement``; its first row, if it returns rows."""
        cursor = self._connection().cursor()
        try:
            cursor.execute(statement, params)
            return cursor.fetchone() if cursor.description is not None else None
        finally:
            cursor.close()

    def _connection(self) -> Any:
        if self._conn is None or getattr(self._conn, "closed", False):
            conn = self._connect()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(self._sql.create)
                finally:
                    cursor.close()
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn


def open_checkpoints(settings: Settings) -> CheckpointStore:
    if settings.event_store_kind == "sqlite":
        return CheckpointTable.sqlite(settings.sqlite_path)
    return CheckpointTable.postgres(settings.postgres)
