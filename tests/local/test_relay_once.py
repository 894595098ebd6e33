"""`orders relay run --once` is a job that must end: with Kafka unusable it gives up, keeping its checkpoint."""

from __future__ import annotations

import asyncio

import pytest

from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.relay.positions import open_checkpoints
from adapters.relay.publisher import KafkaUnavailableError, Relay, RelayTuning
from adapters.relay.retry import Backoff

NO_KAFKA = "127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(event_store_url=f"sqlite:///{tmp_path}/events.db", kafka_bootstrap=NO_KAFKA)


def test_a_once_run_gives_up_when_kafka_stays_unreachable_and_keeps_its_checkpoint(settings):
    orders = open_orders(settings)
    orders.place_order("customer-1", [("SKU-1", 1, "1.00")])
    tuning = RelayTuning(once_patience=1.0, backoff=Backoff(initial=0.1, maximum=0.2))
    relay = Relay(settings, orders, open_checkpoints(settings), tuning=tuning)
    with pytest.raises(KafkaUnavailableError, match="checkpoint stays at 0"):
        asyncio.run(relay.run(once=True))
    assert open_checkpoints(settings).load(settings.topic) == 0
    orders.close()
