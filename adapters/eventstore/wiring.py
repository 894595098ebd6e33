"""Event-store wiring: the eventsourcing environment for the ``Orders`` application.

SQLite (a file, created on first use) is the embedded default; PostgreSQL is
eventsourcing's postgres module, configured by one URL. The PostgreSQL
recorder's database functions are always switched off (see
``config.refuse_db_functions``): the insert then takes the table lock that
makes the notification log commit-ordered, which the relay relies on.
"""

from __future__ import annotations

from adapters.config import Settings
from domain.application import Orders


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The environment that points eventsourcing at the configured store."""
    if settings.event_store_kind == "sqlite":
        path = settings.sqlite_path
        path.parent.mkdir(parents=True, exist_ok=True)
        values = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
        }
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
    env: dict[str, str] = {}
    for key, value in values.items():
        # eventsourcing reads ORDERS_<KEY> before <KEY>; set both so that a stray
        # variable in the process environment cannot redirect the store.
        env[key] = value
        env[f"{Orders.name.upper()}_{key}"] = value
    return env


def open_orders(settings: Settings) -> Orders:
    """The domain API on the configured event store (tables created on first use)."""
    return Orders(env=eventsourcing_env(settings))
