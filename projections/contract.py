"""The projection contract: what a read model declares.

A projection is a small declarative class::

    class OrderSummary(Projection):
        name = "order_summary"
        version = 1
        metadata = MetaData()
        orders = Table("order_summary", metadata, Column("order_id", String(36), primary_key=True), ...)

        @handles(Order.Placed)
        def placed(self, rows: Rows, event: EventRecord) -> None:
            rows.put(self.orders, {"order_id": event.aggregate_id, ...})

Handlers are deterministic: they read and write rows only through ``rows``
(no clock, no randomness, no other I/O) and see events already upcast to the
current schema. ``event.data`` holds JSON values (money as decimal strings).

Guarantees come from the framework, not the handlers: each event reaches a
projection at most once in effect (an (order id, aggregate version) already
applied is dropped; a version gap is an error, never skipped), and rows are
written together with the source offsets in one SQL transaction.

``rows`` is a unit of work over the projection's tables: ``get`` sees every
``put`` and ``delete`` made earlier in the same batch; the framework flushes
it in bulk. Keys are the primary-key values, in primary-key column order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from sqlalchemy import Column, Integer, MetaData, String, Table

from domain.records import EventRecord

ERROR_POLICIES = ("halt", "dead-letter")
VERSIONS_SUFFIX = "_versions"

Handler = Callable[[Any, "Rows", EventRecord], None]


class Topical(Protocol):
    """An event class with an explicit, stable topic (``Order.Placed.TOPIC``)."""

    TOPIC: str


class Rows(ABC):
    """The port through which handlers read and write their rows."""

    @abstractmethod
    def get(self, table: Table, *key: Any) -> dict[str, Any] | None:
        """The row with this primary key, or None."""

    @abstractmethod
    def put(self, table: Table, row: dict[str, Any]) -> None:
        """Insert or replace the whole row (it must hold every primary-key column)."""

    @abstractmethod
    def delete(self, table: Table, *key: Any) -> None:
        """Remove the row with this primary key, if any."""


def handles(*event_types: type[Topical] | str) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of these event types (classes or topic strings)."""
    topics = tuple(t if isinstance(t, str) else t.TOPIC for t in event_types)

    def mark(method: Handler) -> Handler:
        method.__handles__ = topics  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """Base class of read models. Subclasses declare, the framework runs them."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData]
    # "halt": stop at a failing event; "dead-letter": park it (and the rest of
    # that order's events) and keep other orders flowing.
    error_policy: ClassVar[str] = "halt"
    # Where this projection's Alembic revisions live (None: the built-in
    # migrations/versions folder).
    migrations: ClassVar[Path | None] = None
    # Whether the first event seen of an order may be a later one than its
    # first (a consumer started at the head of the log): then that version is
    # taken as the order's start, not as a gap.
    starts_mid_stream: ClassVar[bool] = False

    handlers: ClassVar[dict[str, str]]
    versions: ClassVar[Table]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an abstract intermediate class
        if not cls.name.isidentifier() or cls.name.lower() != cls.name:
            raise TypeError(f"projection name {cls.name!r} must be a lower-case identifier")
        if cls.error_policy not in ERROR_POLICIES:
            raise TypeError(f"{cls.__name__}.error_policy must be one of {ERROR_POLICIES}")
        handlers: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for topic in getattr(value, "__handles__", ()):
                    handlers[topic] = attr
        cls.handlers = handlers
        # The framework's record of the last version applied per order, kept
        # with the projection's own tables so that a rebuild rebuilds it too.
        cls.versions = Table(
            f"{cls.name}{VERSIONS_SUFFIX}",
            cls.metadata,
            Column("aggregate_id", String(36), primary_key=True),
            Column("version", Integer, nullable=False),
        )

    @classmethod
    def tables(cls) -> list[Table]:
        """Every table of this projection, the framework's versions table included."""
        return list(cls.metadata.sorted_tables)

    def apply(self, rows: Rows, event: EventRecord) -> None:
        """Run the handler of ``event``'s type, if this projection has one."""
        handler = self.bound_handlers().get(event.event_type)
        if handler is not None:
            handler(rows, event)

    def bound_handlers(self) -> dict[str, Callable[[Rows, EventRecord], None]]:
        """Event type -> this instance's handler (made once per instance)."""
        bound = self.__dict__.get("_bound_handlers")
        if bound is None:
            bound = self.__dict__["_bound_handlers"] = {
                topic: getattr(self, attr) for topic, attr in self.handlers.items()
            }
        return bound
