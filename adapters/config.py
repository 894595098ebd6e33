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
| ORDERS_SMTP_URL              | (empty: mail written to files)   | SMTP server for outgoing mail (URL forms below) |
| ORDERS_MAIL_FROM             | orders@orderstream.invalid       | From of outgoing mail: ADDRESS or NAME <ADDRESS> |
| ORDERS_MAIL_DIR              | var/mail                         | .eml files' folder when no ORDERS_SMTP_URL |
| ORDERS_PAYMENT_DECLINE_RATE  | 0.1                              | simulated gateway: share declined, 0..1 |
| ORDERS_PAYMENT_SEED          | 7                                | simulated gateway: seed of its outcomes |
| ORDERS_PAYMENT_LATENCY_MS    | 0                                | simulated gateway: ms slept per capture |

The event store URL is sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB; the
read-model URL is a SQLAlchemy URL (postgresql:// accepted). The SMTP URL is
smtp://HOST[:PORT] (plain, port 25, no credentials: they would cross the
network in clear), smtp+starttls://[USER:PASS@]HOST[:PORT] (upgraded with
STARTTLS, port 587) or smtps://[USER:PASS@]HOST[:PORT] (implicit TLS, port
465); user and password are percent-encoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
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
class SmtpLocation:
    """Where outgoing mail goes: ``security`` is ``plain``, ``starttls`` or ``tls`` (implicit)."""

    security: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)


SMTP_SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


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
    smtp_url: str = ""  # empty: mail is written under mail_dir
    mail_from: str = "orders@orderstream.invalid"
    mail_dir: str = "var/mail"
    payment_decline_rate: float = 0.1
    payment_seed: int = 7
    payment_latency_ms: int = 0

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
            smtp_url=(env.get("ORDERS_SMTP_URL") or "").strip(),
            mail_from=(env.get("ORDERS_MAIL_FROM") or cls.mail_from).strip(),
            mail_dir=env.get("ORDERS_MAIL_DIR") or cls.mail_dir,
            payment_decline_rate=_fraction(env, "ORDERS_PAYMENT_DECLINE_RATE", cls.payment_decline_rate),
            payment_seed=_int(env, "ORDERS_PAYMENT_SEED", cls.payment_seed, minimum=0),
            payment_latency_ms=_int(env, "ORDERS_PAYMENT_LATENCY_MS", cls.payment_latency_ms, minimum=0),
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` now if a URL or the mail sender is not usable.

        Early, with a clear message, rather than on first use.
        """
        _event_store_kind(self.event_store_url)
        _ = self.smtp
        _ = self.mail_sender

    @property
    def smtp(self) -> SmtpLocation | None:
        """The SMTP server from ``smtp_url``; None when mail goes to files."""
        if not self.smtp_url:
            return None
        return _smtp_location(self.smtp_url)

    @property
    def mail_sender(self) -> str:
        """The bare address of ``mail_from`` (the SMTP envelope sender)."""
        _, address = parseaddr(self.mail_from)
        if not is_mail_address(address) or any(c in self.mail_from for c in "\r\n,"):
            raise ConfigurationError(
                f"ORDERS_MAIL_FROM={self.mail_from!r} is not one mail address; write it like "
                "orders@example.com or Orders <orders@example.com>"
            )
        return address

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


def _smtp_location(url: str) -> SmtpLocation:
    usage = "use smtp://HOST:PORT, smtp+starttls://USER:PASSWORD@HOST:PORT or smtps://USER:PASSWORD@HOST:PORT"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"ORDERS_SMTP_URL {redact(url)!r} is malformed; {usage}") from None
    scheme = SMTP_SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigurationError(f"ORDERS_SMTP_URL {redact(url)!r} is not supported; {usage}")
    security, default_port = scheme
    if security == "plain" and (parts.username or parts.password):
        raise ConfigurationError(
            f"ORDERS_SMTP_URL {redact(url)!r} would send its password in clear; use smtp+starttls:// or smtps://"
        )
    return SmtpLocation(
        security=security,
        host=parts.hostname,
        port=port or default_port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


# An addr-spec as mail servers accept it in practice: dot-separated atoms on both sides of
# one @, without spaces, controls, quotes, brackets or separators (quoted local parts refused).
_ATOM = r"[^\s\x00-\x1f\x7f@<>()\[\],;:\\\".]+"
MAIL_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@{_ATOM}(\.{_ATOM})*")


def is_mail_address(value: str) -> bool:
    """True for a bare address like ``orders@example.com`` (``local@domain``, no display name)."""
    return bool(MAIL_ADDRESS.fullmatch(value))


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


def _fraction(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{key}={raw!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{key}={raw!r} must be between 0 and 1")
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ConfigurationError(f"{key}={raw!r} must be yes or no")
