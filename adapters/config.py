"""The one configuration surface of orderstream.

Every setting is an environment variable; the CLI's flags override them.
Nothing here connects to anything: ``Settings`` is plain values, read once by
the CLI and handed to the composition root, ``adapters.bootstrap``.

| variable                     | default                          | meaning                                   |
|------------------------------|----------------------------------|-------------------------------------------|
| ORDERS_EVENT_STORE_URL       | sqlite:///var/events.db          | event store (URL forms below)             |
| ORDERS_READ_MODEL_URL        | sqlite:///var/read_models.db     | read-model database (URL forms below)     |
| ORDERS_KAFKA_BOOTSTRAP       | (empty: embedded, no Kafka)      | Kafka bootstrap servers, host:port[,host:port] |
| ORDERS_TOPIC                 | orders.events                    | the event topic                           |
| ORDERS_TOPIC_PARTITIONS      | 6                                | partitions when the relay creates the topic |
| ORDERS_ALLOW_FINITE_RETENTION| no                               | let the relay use a topic that deletes history |
| ORDERS_RELAY_POLL_INTERVAL   | 0.05                             | seconds between log polls on SQLite       |
| ORDERS_PROJECTIONS           | (empty)                          | extra projections, comma-separated module:Class |
| ORDERS_REACTORS              | (empty)                          | extra reactors, comma-separated module:Class |
| ORDERS_REBUILD_PROCESSES     | 0 (one per CPU core)             | processes per rebuild of an order-keyed projection |

The event store URL is sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB; the
read-model URL is a SQLAlchemy URL (postgresql:// accepted).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the variable to fix."""


TRUE = {"1", "y", "yes", "true", "on"}
FALSE = {"", "0", "n", "no", "false", "off"}


@dataclass(frozen=True)
class PostgresLocation:
    host: str
    port: int
    user: str
    password: str
    dbname: str


@dataclass(frozen=True)
class Settings:
    event_store_url: str = "sqlite:///var/events.db"
    read_model_url: str = "sqlite:///var/read_models.db"
    kafka_bootstrap: str = ""
    topic: str = "orders.events"
    topic_partitions: int = 6
    allow_finite_retention: bool = False
    relay_poll_interval: float = 0.05
    extra_projections: tuple[str, ...] = field(default_factory=tuple)
    extra_reactors: tuple[str, ...] = field(default_factory=tuple)
    rebuild_processes: int = 0  # 0: one per CPU core

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        refuse_db_functions(env)
        settings = cls(
            event_store_url=env.get("ORDERS_EVENT_STORE_URL") or cls.event_store_url,
            read_model_url=env.get("ORDERS_READ_MODEL_URL") or cls.read_model_url,
            kafka_bootstrap=(env.get("ORDERS_KAFKA_BOOTSTRAP") or "").strip(),
            topic=env.get("ORDERS_TOPIC") or cls.topic,
            topic_partitions=_int(env, "ORDERS_TOPIC_PARTITIONS", cls.topic_partitions, minimum=1),
            allow_finite_retention=_bool(env, "ORDERS_ALLOW_FINITE_RETENTION"),
            relay_poll_interval=_float(env, "ORDERS_RELAY_POLL_INTERVAL", cls.relay_poll_interval),
            extra_projections=tuple(
                p.strip() for p in (env.get("ORDERS_PROJECTIONS") or "").split(",") if p.strip()
            ),
            extra_reactors=tuple(p.strip() for p in (env.get("ORDERS_REACTORS") or "").split(",") if p.strip()),
            rebuild_processes=_int(env, "ORDERS_REBUILD_PROCESSES", cls.rebuild_processes, minimum=0),
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` now if the event store URL is not supported.

        Early, with a clear message, rather than on first use.
        """
        _event_store_kind(self.event_store_url)

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap)

    @property
    def event_store_kind(self) -> str:
        return _event_store_kind(self.event_store_url)

    @property
    def sqlite_path(self) -> Path:
        """The event store's SQLite file (only for sqlite:// URLs)."""
        path = self.event_store_url[len("sqlite:///") :]
        if not path:
            raise ConfigurationError("ORDERS_EVENT_STORE_URL sqlite:/// needs a file path")
        return Path(path)

    @property
    def postgres(self) -> PostgresLocation:
        parts = urlsplit(self.event_store_url)
        if not (parts.hostname and parts.username and parts.path.strip("/")):
            raise ConfigurationError(
                f"ORDERS_EVENT_STORE_URL {redact(self.event_store_url)!r} needs user, host and "
                "database: postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            )
        return PostgresLocation(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            dbname=parts.path.strip("/"),
        )


def refuse_db_functions(env: Mapping[str, str]) -> None:
    """Refuse eventsourcing's PostgreSQL insert functions.

    They insert without the table lock that keeps the notification log
    commit-ordered; with them a relay could pass a notification id that a
    slower transaction fills in later, and skip that event forever.
    """
    for key in ("POSTGRES_ENABLE_DB_FUNCTIONS", "ORDERS_POSTGRES_ENABLE_DB_FUNCTIONS"):
        if (env.get(key) or "").strip().lower() not in FALSE:
            raise ConfigurationError(
                f"{key} must not be enabled: orderstream needs the table lock that keeps the "
                "notification log commit-ordered; unset it"
            )


def _event_store_kind(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgres"
    raise ConfigurationError(
        f"ORDERS_EVENT_STORE_URL {url!r} is not supported; "
        "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _int(env: Mapping[str, str], key: str, default: int, minimum: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{key}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigurationError(f"{key}={raw!r} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{key}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{key}={raw!r} must be greater than zero")
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ConfigurationError(f"{key}={raw!r} must be yes or no")
