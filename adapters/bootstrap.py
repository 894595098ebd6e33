"""The composition root: what orderstream opens, built from ``Settings`` in one place.

The entry points (the CLI, a rebuild's worker process, the tests' and
benchmarks' runs of the runner) open a :class:`System` with
:func:`open_system` and hand it, or its parts, to the code that needs them;
the runner, the relay and the stores build none of these themselves. Nothing
connects before it is first used. (Benchmarks that time the domain API or
the relay alone open just that part, with the builders this module uses.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import cached_property

from sqlalchemy import Engine

from adapters.config import Settings
from adapters.eventstore.source import EmbeddedSource
from adapters.eventstore.wiring import open_inventory, open_orders
from adapters.kafka.source import KafkaSource
from adapters.mail import Mailer, open_mailer
from adapters.payments import PaymentGateway, open_payment_gateway
from adapters.registry import discover, discover_reactors
from adapters.relay.positions import CheckpointStore, open_checkpoints
from adapters.sql.engines import READ_ONLY, create_read_model_engine
from domain.application import Orders
from domain.inventory import Inventory
from projections.contract import Projection
from reactors.contract import Reactor


class System:
    """The parts of one orderstream process, each opened on first use and closed by :meth:`close`.

    ``orders`` / ``inventory`` given: the domain API to use instead of
    opening one (its owner closes it).
    """

    def __init__(self, settings: Settings, orders: Orders | None = None, inventory: Inventory | None = None) -> None:
        self.settings = settings
        self._given_orders = orders
        self._given_inventory = inventory

    @cached_property
    def orders(self) -> Orders:
        """The domain API on the configured event store."""
        return self._given_orders or open_orders(self.settings)

    @cached_property
    def inventory(self) -> Inventory:
        """The inventory domain API on the configured event store (its own tables there)."""
        return self._given_inventory or open_inventory(self.settings)

    @cached_property
    def read_models(self) -> Engine:
        """The read-model database, for writers (SQLite: transactions take the write lock up front)."""
        return create_read_model_engine(self.settings.read_model_url, writer=True)

    @cached_property
    def read_models_for_reading(self) -> Engine:
        """The same database for readers (SQLite: a plain BEGIN, never waiting for a writer)."""
        return self.read_models.execution_options(**{READ_ONLY: True})

    @cached_property
    def projections(self) -> list[type[Projection]]:
        """Every projection found: built in, entry points, ``ORDERS_PROJECTIONS``."""
        return discover(self.settings)

    @cached_property
    def reactors(self) -> list[type[Reactor]]:
        """Every reactor found: built in, entry points, ``ORDERS_REACTORS`` (none named like a projection)."""
        return discover_reactors(self.settings, projections=self.projections)

    @property
    def uses_kafka(self) -> bool:
        return self.settings.uses_kafka

    @cached_property
    def kafka_source(self) -> KafkaSource:
        """The event topic (consumers are made per projection and per rebuild)."""
        return KafkaSource(self.settings.kafka_bootstrap, self.settings.topic)

    @cached_property
    def embedded_source(self) -> EmbeddedSource:
        """The event store's log as one partition."""
        return EmbeddedSource(self.orders)

    @cached_property
    def mailer(self) -> Mailer:
        """Outgoing mail: SMTP with ``ORDERS_SMTP_URL``, else ``.eml`` files (connects on its first send)."""
        return open_mailer(self.settings)

    @cached_property
    def payment_gateway(self) -> PaymentGateway:
        """The payment gateway (today the simulator, configured by ``ORDERS_PAYMENT_*``)."""
        return open_payment_gateway(self.settings)

    def relay_checkpoints(self) -> CheckpointStore:
        """Where the relay keeps how far it published (its caller closes it)."""
        return open_checkpoints(self.settings)

    def close(self) -> None:
        """Close what was opened, each part even if another fails (an ``orders`` or ``inventory`` given stays open)."""
        with ExitStack() as closing:  # closes in reverse: the outside-world ports first, the domain APIs last
            if "orders" in self.__dict__ and self._given_orders is None:
                closing.callback(self.orders.close)
            if "inventory" in self.__dict__ and self._given_inventory is None:
                closing.callback(self.inventory.close)
            if "read_models" in self.__dict__:
                closing.callback(self.read_models.dispose)
            if "payment_gateway" in self.__dict__:
                closing.callback(self.payment_gateway.close)
            if "mailer" in self.__dict__:
                closing.callback(self.mailer.close)


@contextmanager
def open_system(
    settings: Settings, orders: Orders | None = None, inventory: Inventory | None = None
) -> Iterator[System]:
    """A :class:`System` for ``settings``, closed at the end of the ``with`` block."""
    system = System(settings, orders, inventory)
    try:
        yield system
    finally:
        system.close()
