"""Fixtures for tests against the real Kafka broker and PostgreSQL.

Start the services with `scripts/services up` (`make test` does it). Every test
under tests/integration is marked `integration` automatically. A service that
does not answer makes the test FAIL (never skip) with a how-to-start message.

Addresses: ORDERS_TEST_KAFKA_BOOTSTRAP and ORDERS_TEST_PG_URL from the
environment, else from var/services.env (loaded by tests/conftest.py), else
127.0.0.1:9092 and postgresql://orderstream:orderstream@127.0.0.1:5432/orderstream_test.

Fixtures:
  kafka_bootstrap   (session)  "host:port" of a broker that answers
  make_topic        (function) factory: make_topic(partitions=6, config=None) -> new topic name
  kafka_topic       (function) a fresh 6-partition topic name, deleted afterwards
  pg_url            (session)  admin URL (role with CREATEDB) of a PostgreSQL that answers
  pg_database       (module)   PgDatabase: a fresh database for this module, dropped at module end
  make_pg_database  (function) factory: make_pg_database() -> PgDatabase, dropped after the test
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

HERE = Path(__file__).resolve().parent

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_PG_URL = "postgresql://orderstream:orderstream@127.0.0.1:5432/orderstream_test"
HOW_TO_START = "run `scripts/services up` (or `make test`)"

T = TypeVar("T")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def run_sync(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


# ----------------------------------------------------------------------- Kafka


def kafka_bootstrap_address() -> str:
    """The bootstrap address tests should use (env, else var/services.env, else default)."""
    return os.environ.get("ORDERS_TEST_KAFKA_BOOTSTRAP") or DEFAULT_KAFKA_BOOTSTRAP


async def _kafka_admin(bootstrap: str):
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=15000, client_id="orderstream-tests"
    )
    await admin.start()
    return admin


async def _check_kafka(bootstrap: str) -> None:
    admin = await asyncio.wait_for(_kafka_admin(bootstrap), 15)
    try:
        info = await asyncio.wait_for(admin.describe_cluster(), 15)
    finally:
        await admin.close()
    if not info.get("brokers"):
        raise RuntimeError("metadata lists no broker")


async def _create_topic(
    bootstrap: str, name: str, partitions: int, replication_factor: int, config: dict[str, str]
) -> None:
    from aiokafka.admin import NewTopic

    admin = await _kafka_admin(bootstrap)
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor, topic_configs=config)],
            timeout_ms=30000,
        )
        for topic_error in response.topic_errors:
            topic, code = topic_error[0], topic_error[1]
            if code != 0:
                message = topic_error[2] if len(topic_error) > 2 else ""
                raise RuntimeError(f"creating topic {topic} failed: error {code} {message}")
        # Wait until every partition has a leader, so producers never see UNKNOWN_TOPIC.
        deadline = time.monotonic() + 30
        while True:
            (meta,) = await admin.describe_topics([name])
            parts = meta.get("partitions") or []
            if (
                meta.get("error_code", 0) == 0
                and len(parts) == partitions
                and all(p.get("leader", -1) >= 0 for p in parts)
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {name} has no leader for every partition: {meta}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = await _kafka_admin(bootstrap)
    try:
        await admin.delete_topics(names, timeout_ms=30000)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap "host:port" of a Kafka broker that answers a metadata request."""
    bootstrap = kafka_bootstrap_address()
    try:
        run_sync(lambda: _check_kafka(bootstrap))
        problem = None
    except Exception as exc:  # any failure: the broker is not usable
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        pytest.fail(f"Kafka is not reachable at {bootstrap}: {HOW_TO_START} [{problem}]", pytrace=False)
    return bootstrap


@pytest.fixture
def make_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Factory make_topic(partitions=6, config=None, *, name=None, replication_factor=1) -> new topic name.

    Every topic made is deleted after the test.
    """
    created: list[str] = []

    def make(
        partitions: int = 6,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        replication_factor: int = 1,
    ) -> str:
        topic = name or f"test.{uuid.uuid4().hex[:12]}"
        configs = {str(k): str(v) for k, v in (config or {}).items()}
        run_sync(
            lambda: _create_topic(kafka_bootstrap, topic, partitions, replication_factor, configs)
        )
        created.append(topic)
        return topic

    yield make
    if created:
        try:
            run_sync(lambda: _delete_topics(kafka_bootstrap, created))
        except Exception as exc:  # best effort: a leftover test topic harms nobody
            warnings.warn(f"could not delete test topics {created}: {exc!r}", stacklevel=1)


@pytest.fixture
def kafka_topic(make_topic: Callable[..., str]) -> str:
    """A unique topic (test.<hex>) with 6 partitions, created for this test and deleted after it."""
    return make_topic()


# ------------------------------------------------------------------ PostgreSQL


@dataclasses.dataclass(frozen=True)
class PgDatabase:
    """Connection facts of one PostgreSQL database."""

    url: str  # postgresql://user:password@host:port/dbname
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def sqlalchemy_url(self) -> str:
        """The same URL for SQLAlchemy with the psycopg (v3) driver."""
        return "postgresql+psycopg://" + self.url.split("://", 1)[1]

    def connect(self, **kwargs: Any):
        """A new psycopg connection to this database (caller closes it)."""
        import psycopg

        return psycopg.connect(self.url, **kwargs)


def pg_url_address() -> str:
    """The admin URL tests should use (env, else var/services.env, else default)."""
    return os.environ.get("ORDERS_TEST_PG_URL") or DEFAULT_PG_URL


def pg_database_for(base_url: str, dbname: str) -> PgDatabase:
    """PgDatabase for `dbname` on the server and credentials of `base_url`."""
    parts = urlsplit(base_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))
    return PgDatabase(
        url=url,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )


def _create_database(base_url: str) -> PgDatabase:
    import psycopg
    from psycopg import sql

    dbname = f"orderstream_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return pg_database_for(base_url, dbname)


def _drop_database(base_url: str, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    # FORCE cannot end an autovacuum worker (it runs as the superuser) and
    # fails while one is in the database; those finish within moments.
    for attempt in range(10):
        try:
            with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
                )
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(0.2 * (attempt + 1))
        except Exception as exc:
            warnings.warn(f"could not drop test database {dbname}: {exc!r}", stacklevel=1)
            return
    warnings.warn(f"could not drop test database {dbname}: autovacuum kept it busy", stacklevel=1)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """Admin URL (postgresql://, a role with CREATEDB) of a PostgreSQL that answers."""
    url = pg_url_address()
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
        problem = None
    except Exception as exc:  # any failure: the server is not usable
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        shown = pg_database_for(url, urlsplit(url).path.lstrip("/"))
        pytest.fail(
            f"PostgreSQL is not reachable at {shown.host}:{shown.port} (user {shown.user}, "
            f"database {shown.dbname}): {HOW_TO_START} [{problem}]",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="module")
def pg_database(pg_url: str) -> Iterator[PgDatabase]:
    """A freshly created database for this test module (PgDatabase), dropped WITH (FORCE) at module end."""
    db = _create_database(pg_url)
    yield db
    _drop_database(pg_url, db.dbname)


@pytest.fixture
def make_pg_database(pg_url: str) -> Iterator[Callable[[], PgDatabase]]:
    """Factory make_pg_database() -> PgDatabase: a fresh database, dropped after the test."""
    made: list[PgDatabase] = []

    def make() -> PgDatabase:
        db = _create_database(pg_url)
        made.append(db)
        return db

    yield make
    for db in made:
        _drop_database(pg_url, db.dbname)
