"""Event-store wiring: the eventsourcing environment for the ``Orders`` and ``Inventory`` applications.

SQLite (a file, created on first use) is the embedded default; PostgreSQL is
eventsourcing's postgres module, configured by one URL. The PostgreSQL
recorder's database functions are always switched off (see
``config.refuse_db_functions``): the insert then takes the table lock that
makes the notification log commit-ordered, which the relay relies on.

Both applications live in the same store, each in tables of its own, so
Inventory's events never enter the Orders notification log the relay
publishes. eventsourcing's PostgreSQL recorder names the table after the
application (``orders_events``, ``inventory_events``); its SQLite recorder
calls every application's table ``stored_events``, so on SQLite Inventory
gets a recorder with a table named as on PostgreSQL (Orders keeps
``stored_events``, which existing files hold).
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from eventsourcing.utils import get_topic

from adapters.config import Settings
from domain.application import Orders
from domain.inventory import Inventory


class InventorySQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, on the table ``inventory_events``."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "inventory_events") -> None:
        super().__init__(datastore, events_table_name)


# Applications whose SQLite events table is not eventsourcing's stored_events.
SQLITE_RECORDERS: dict[str, type[SQLiteApplicationRecorder]] = {Inventory.name: InventorySQLiteRecorder}

# A SKU's stock records an event per reservation, release and shipment, so
# rebuilding it from its whole history costs more with every order. Inventory
# keeps up to this many stocks in memory (eventsourcing's aggregate cache)
# and, on each load, applies only the events recorded since: fast-forwarded,
# a cached stock is as fresh as one read whole, whichever process wrote.
AGGREGATE_CACHE: dict[str, int] = {Inventory.name: 10_000}


def eventsourcing_env(settings: Settings, application_name: str = Orders.name) -> dict[str, str]:
    """The environment that points the application named ``application_name`` at the configured store."""
    if settings.event_store_kind == "sqlite":
        path = settings.sqlite_path
        path.parent.mkdir(parents=True, exist_ok=True)
        values = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
        }
        if application_name in SQLITE_RECORDERS:
            values["APPLICATION_RECORDER_TOPIC"] = get_topic(SQLITE_RECORDERS[application_name])
    else:
        pg = settings.postgres
        values = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_USER": pg.user,
            "POSTGRES_PASSWORD": pg.password,
            "POSTGRES_DBNAME": pg.dbname,
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": "10",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "0",
            # Seconds to wait for a connection: a wrong URL fails fast, not after 30 s.
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "CREATE_TABLE": "y",
        }
    if application_name in AGGREGATE_CACHE:
        values["AGGREGATE_CACHE_MAXSIZE"] = str(AGGREGATE_CACHE[application_name])
        values["AGGREGATE_CACHE_FASTFORWARD"] = "y"
    env: dict[str, str] = {}
    for key, value in values.items():
        # eventsourcing reads <NAME>_<KEY> (ORDERS_..., INVENTORY_...) before <KEY>;
        # set both so that a stray variable in the process environment cannot
        # redirect the store.
        env[key] = value
        env[f"{application_name.upper()}_{key}"] = value
    return env


def open_orders(settings: Settings) -> Orders:
    """The domain API on the configured event store (tables created on first use)."""
    return Orders(env=eventsourcing_env(settings))


def open_inventory(settings: Settings) -> Inventory:
    """The inventory domain API on the configured event store, in tables of its own (created on first use)."""
    return Inventory(env=eventsourcing_env(settings, Inventory.name))
