"""The eventsourcing environment of each application: its own prefix, its own tables."""

from __future__ import annotations

import inspect

from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from adapters.config import Settings
from adapters.eventstore.wiring import eventsourcing_env

PG_URL = "postgresql://orders:s3cret@db.example:6543/orderstream"
SQLITE_ANYWHERE = Settings(event_store_url="sqlite:///./events.db")


def test_the_inventory_env_sets_its_keys_under_the_inventory_prefix():
    env = eventsourcing_env(Settings(event_store_url=PG_URL), "Inventory")
    assert (env["INVENTORY_PERSISTENCE_MODULE"], env["INVENTORY_POSTGRES_DBNAME"]) == (
        "eventsourcing.postgres", "orderstream"
    )


def test_the_inventory_env_on_postgres_disables_db_functions_too():
    env = eventsourcing_env(Settings(event_store_url=PG_URL), "Inventory")
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == env["INVENTORY_POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"


def test_the_inventory_env_on_sqlite_gives_it_a_table_of_its_own(monkeypatch):
    monkeypatch.setattr("pathlib.Path.mkdir", lambda *args, **kwargs: None)  # no I/O in a unit test
    env = eventsourcing_env(SQLITE_ANYWHERE, "Inventory")
    recorder_class = resolve_topic(env["INVENTORY_APPLICATION_RECORDER_TOPIC"])
    table = inspect.signature(recorder_class).parameters["events_table_name"].default
    assert (issubclass(recorder_class, SQLiteApplicationRecorder), table) == (True, "inventory_events")


def test_the_orders_env_on_sqlite_keeps_eventsourcing_s_table(monkeypatch):
    monkeypatch.setattr("pathlib.Path.mkdir", lambda *args, **kwargs: None)
    env = eventsourcing_env(SQLITE_ANYWHERE)
    assert "APPLICATION_RECORDER_TOPIC" not in env and "ORDERS_APPLICATION_RECORDER_TOPIC" not in env


def test_the_inventory_env_caches_stocks_fast_forwarded_on_each_load():
    env = eventsourcing_env(Settings(event_store_url=PG_URL), "Inventory")
    assert int(env["INVENTORY_AGGREGATE_CACHE_MAXSIZE"]) > 0
    assert env["INVENTORY_AGGREGATE_CACHE_FASTFORWARD"] == "y"


def test_the_orders_env_caches_no_aggregates():
    env = eventsourcing_env(Settings(event_store_url=PG_URL))
    assert "AGGREGATE_CACHE_MAXSIZE" not in env and "ORDERS_AGGREGATE_CACHE_MAXSIZE" not in env
