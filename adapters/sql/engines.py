"""Engines on the read-model database: SQLite pragmas and transactions, PostgreSQL via psycopg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
)

from adapters.config import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WRITER_CACHE_KIB = 128 * 1024  # page cache of a writer connection (SQLite's default: 2 MiB)


def sqlalchemy_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_read_model_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine on the read-model database (nothing connects until first use).

    SQLite: WAL mode (readers never wait for the writer, and keep reading
    their snapshot during a swap), a busy timeout, the file's folder created;
    transactions are begun explicitly so that DDL is transactional, and
    ``writer=True`` begins them ``IMMEDIATE`` (the write lock up front, so a
    batch never fails to upgrade a read lock).
    """
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, writer)
    if url.startswith("postgresql+psycopg://"):
        return create_engine(url, pool_pre_ping=True)
    raise ConfigurationError(
        f"ORDERS_READ_MODEL_URL {url!r} is not supported; use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    )


# Execution option: this connection of a writer engine only reads (SQLite: a
# plain BEGIN, which does not wait for another process's write lock).
READ_ONLY = "orderstream_read_only"


def _sqlite_engine(url: str, writer: bool) -> Engine:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"ORDERS_READ_MODEL_URL {url!r}: the read models need a SQLite file, sqlite:///PATH"
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" below opens the
        # transaction, so DDL (the swap) is transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Safe in WAL mode: a power cut may lose the last commits, never
        # corrupt; rows and checkpoints are lost together and replayed.
        cursor.execute("PRAGMA synchronous=NORMAL")
        if writer:
            # Batches upsert thousands of rows at random keys: keep the tables' pages in memory.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else begin)

    return engine


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"
