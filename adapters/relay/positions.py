"""Where the relay keeps how far it published: a table in the event-store database."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

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


class SQLiteCheckpoints(CheckpointStore):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self._path), timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
                "topic TEXT PRIMARY KEY, notification_id INTEGER NOT NULL, "
                "updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            self._conn = conn
        return self._conn

    def load(self, topic: str) -> int:
        row = self._connection().execute(
            f"SELECT notification_id FROM {CHECKPOINT_TABLE} WHERE topic = ?", (topic,)
        ).fetchone()
        return int(row[0]) if row else 0

    def save(self, topic: str, notification_id: int) -> None:
        self._connection().execute(
            f"INSERT INTO {CHECKPOINT_TABLE} (topic, notification_id) VALUES (?, ?) "
            "ON CONFLICT (topic) DO UPDATE SET "
            "notification_id = max(notification_id, excluded.notification_id), "
            "updated_at = CURRENT_TIMESTAMP",
            (topic, notification_id),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresCheckpoints(CheckpointStore):
    def __init__(self, location: PostgresLocation) -> None:
        self._location = location
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            pg = self._location
            conn = psycopg.connect(
                host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.dbname,
                autocommit=True, connect_timeout=10,
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
                "topic text PRIMARY KEY, notification_id bigint NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT now())"
            )
            self._conn = conn
        return self._conn

    def load(self, topic: str) -> int:
        row = self._connection().execute(
            f"SELECT notification_id FROM {CHECKPOINT_TABLE} WHERE topic = %s", (topic,)
        ).fetchone()
        return int(row[0]) if row else 0

    def save(self, topic: str, notification_id: int) -> None:
        self._connection().execute(
            f"INSERT INTO {CHECKPOINT_TABLE} (topic, notification_id) VALUES (%s, %s) "
            "ON CONFLICT (topic) DO UPDATE SET "
            f"notification_id = GREATEST({CHECKPOINT_TABLE}.notification_id, excluded.notification_id), "
            "updated_at = now()",
            (topic, notification_id),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def open_checkpoints(settings: Settings) -> CheckpointStore:
    if settings.event_store_kind == "sqlite":
        return SQLiteCheckpoints(settings.sqlite_path)
    return PostgresCheckpoints(settings.postgres)
