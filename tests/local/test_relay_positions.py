"""The relay's checkpoint table (``adapters.relay.positions``): what ``load`` and ``save`` promise.

A contract on every event-store database: run here on SQLite, and on
PostgreSQL by tests/integration/contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.config import Settings
from adapters.relay.positions import CHECKPOINT_TABLE, CheckpointStore, open_checkpoints


@pytest.fixture
def store(backend_settings: Settings) -> Iterator[CheckpointStore]:
    store = open_checkpoints(backend_settings)
    yield store
    store.close()


def test_a_topic_never_published_to_has_checkpoint_zero(store):
    assert store.load("orders.events") == 0


def test_a_saved_checkpoint_is_loaded_back(store):
    store.save("orders.events", 42)
    assert store.load("orders.events") == 42


def test_a_checkpoint_never_moves_backwards(store):
    store.save("orders.events", 42)
    store.save("orders.events", 7)
    assert store.load("orders.events") == 42


def test_each_topic_has_its_own_checkpoint(store):
    store.save("orders.events", 42)
    store.save("orders.other", 7)
    assert (store.load("orders.events"), store.load("orders.other")) == (42, 7)


def test_a_checkpoint_outlives_the_store_that_saved_it(store, backend_settings):
    store.save("orders.events", 42)
    store.close()
    again = open_checkpoints(backend_settings)
    try:
        assert again.load("orders.events") == 42
    finally:
        again.close()


def test_the_table_keeps_topic_notification_id_and_update_time(store, backend_settings):
    store.save("orders.events", 42)
    conn = _connect(backend_settings)
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT topic, notification_id, updated_at FROM {CHECKPOINT_TABLE}")
        [(topic, notification_id, updated_at)] = cursor.fetchall()
    finally:
        conn.close()
    assert (topic, notification_id, updated_at is not None) == ("orders.events", 42, True)


def _connect(settings: Settings):
    if settings.event_store_kind == "sqlite":
        import sqlite3

        return sqlite3.connect(settings.sqlite_path)
    import psycopg

    pg = settings.postgres
    return psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.dbname)
