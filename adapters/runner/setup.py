"""What every runner entry point opens first."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from adapters.config import ConfigurationError, Settings
from adapters.eventstore.source import EmbeddedSource
from adapters.eventstore.wiring import open_orders
from adapters.kafka.source import KafkaSource
from adapters.runner.registry import discover
from adapters.sql.bookkeeping import StateRow, ensure_state
from adapters.sql.engines import create_read_model_engine
from domain.application import Orders
from projections.contract import Projection


def chosen_projections(settings: Settings, projections: Sequence[type[Projection]] | None) -> list[type[Projection]]:
    return discover(settings) if projections is None else list(projections)


def writer_engine(settings: Settings) -> Engine:
    return create_read_model_engine(settings.read_model_url, writer=True)


def prepare(engine: Engine, projection: type[Projection]) -> StateRow:
    with engine.begin() as conn:
        state = ensure_state(conn, projection)
    if state.version > projection.version:
        raise ConfigurationError(
            f"projection {projection.name}'s tables were built by version {state.version}, newer than "
            f"this code's version {projection.version}; run the newer orderstream, or rebuild with this one"
        )
    return state


class Sources:
    """The configured source, opened once for a run."""

    def __init__(self, settings: Settings, orders: Orders | None) -> None:
        self.settings = settings
        self._orders = orders
        self.kafka = KafkaSource(settings.kafka_bootstrap, settings.topic) if settings.uses_kafka else None

    @property
    def orders(self) -> Orders:
        if self._orders is None:
            self._orders = open_orders(self.settings)
        return self._orders

    @property
    def embedded(self) -> EmbeddedSource:
        return EmbeddedSource(self.orders)
