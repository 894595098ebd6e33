"""The composition root opens nothing before it is used."""

from __future__ import annotations

from adapters.bootstrap import System
from adapters.config import Settings

# Nothing listens on port 1: any connection attempt would fail.
NOWHERE = Settings(
    event_store_url="postgresql://user:secret@127.0.0.1:1/events",
    read_model_url="postgresql://user:secret@127.0.0.1:1/read_models",
    kafka_bootstrap="127.0.0.1:1",
)


def test_a_system_is_made_and_closed_without_connecting_to_anything():
    System(NOWHERE).close()


def test_the_read_model_engine_is_made_without_connecting():
    system = System(NOWHERE)
    assert system.read_models.dialect.name == "postgresql"
    system.close()


def test_the_kafka_source_is_made_without_connecting():
    system = System(NOWHERE)
    assert system.kafka_source.topic == NOWHERE.topic
    system.close()


def test_the_inventory_is_not_opened_before_it_is_used():
    system = System(NOWHERE)
    assert "inventory" not in system.__dict__
    system.close()
