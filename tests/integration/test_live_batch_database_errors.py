"""Database failures while a live batch opens on PostgreSQL (its statements go in one psycopg pipeline).

The pipeline talks to psycopg directly, past SQLAlchemy; these tests hold it
to what SQLAlchemy would have done: the error raised as SQLAlchemy's (so a
batch retries an ``OperationalError``), a lost connection invalidated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from adapters.config import Settings
from adapters.runner.worker import LiveBatchWriter
from adapters.sql import schema
from adapters.sql.engines import create_read_model_engine
from adapters.sql.rows import SqlRows, live_tables
from adapters.sql.store import open_batch
from projections.apply import Message
from projections.order_summary import OrderSummary
from tests.integration.conftest import PgDatabase
from tests.systems import migrate
from tests.unit.projections.stories import OrderStory

TABLES = live_tables(OrderSummary)
LOCK_KEY = f"orderstream.projection:{OrderSummary.name}:{schema.Target.LIVE}"


@pytest.fixture
def database(make_pg_database: Callable[[], PgDatabase]) -> PgDatabase:
    db = make_pg_database()
    migrate(Settings(read_model_url=db.sqlalchemy_url), [OrderSummary])
    return db


@pytest.fixture
def impatient_engine(database: PgDatabase) -> Iterator[Engine]:
    """The writer's engine, but a lock wait over 100 ms fails (LockNotAvailable, an OperationalError)."""
    engine = create_engine(database.sqlalchemy_url, connect_args={"options": "-c lock_timeout=100"})
    yield engine
    engine.dispose()


@pytest.fixture
def lock_holder(database: PgDatabase) -> Iterator[psycopg.Connection]:
    """Another session holding the projection's batch lock until it closes."""
    with database.connect(autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
        yield holder


def test_a_database_error_while_a_batch_opens_is_raised_as_sqlalchemys_operational_error(
    impatient_engine, lock_holder
):
    with pytest.raises(OperationalError) as raised, impatient_engine.begin() as conn:
        open_batch(SqlRows(conn, TABLES), OrderSummary.name, schema.Target.LIVE, {"o-1"})
    assert isinstance(raised.value.orig, psycopg.errors.LockNotAvailable)


def test_a_connection_lost_while_a_batch_opens_is_invalidated_and_replaced(database):
    engine = create_read_model_engine(database.sqlalchemy_url, writer=True)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with database.connect(autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(OperationalError) as raised:
                open_batch(SqlRows(conn, TABLES), OrderSummary.name, schema.Target.LIVE, {"o-1"})
            assert raised.value.connection_invalidated and conn.invalidated
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()


def test_a_live_batch_whose_opening_fails_on_the_database_is_retried(impatient_engine, lock_holder, caplog):
    story = OrderStory(customer_id="c-retried")
    worker = LiveBatchWriter(impatient_engine, OrderSummary)
    # The lock is held past the first attempt (100 ms) and released well before
    # the last one (the retries back off 0.2, 0.4, 0.6, 0.8 s).
    release = threading.Timer(0.5, lock_holder.close)
    release.start()
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.sql.retries"):
            worker.process([Message(partition=0, offset=0, event=story.records[0])])
    finally:
        release.join()
    assert "retrying" in caplog.text
    with impatient_engine.connect() as conn:
        assert conn.execute(select(OrderSummary.orders.c.customer_id)).scalars().all() == ["c-retried"]


def test_a_live_batch_whose_connection_was_lost_is_retried_on_a_new_one(database, caplog):
    # No ping before use: the lost connection is found by the batch itself.
    engine = create_engine(database.sqlalchemy_url)
    first, second = OrderStory(customer_id="c-first"), OrderStory(customer_id="c-second")
    worker = LiveBatchWriter(engine, OrderSummary)
    try:
        worker.process([Message(partition=0, offset=0, event=first.records[0])])
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with database.connect(autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with caplog.at_level(logging.WARNING, logger="adapters.sql.retries"):
            worker.process([Message(partition=0, offset=1, event=second.records[0])])
        with engine.connect() as conn:
            customers = conn.execute(select(OrderSummary.orders.c.customer_id).order_by("customer_id")).scalars().all()
    finally:
        engine.dispose()
    assert "retrying" in caplog.text and customers == ["c-first", "c-second"]
