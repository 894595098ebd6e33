"""The relay: publishes the event store's notification log to Kafka (see ``publisher``)."""

from adapters.relay.pipeline import PublishError
from adapters.relay.positions import (
    CheckpointStore,
    PostgresCheckpoints,
    SQLiteCheckpoints,
    open_checkpoints,
)
from adapters.relay.publisher import KafkaUnavailableError, Relay, RelayReport
from adapters.relay.status import RelayStatus, relay_status
from adapters.relay.tuning import RelayTuning

__all__ = [
    "CheckpointStore",
    "KafkaUnavailableError",
    "PostgresCheckpoints",
    "PublishError",
    "Relay",
    "RelayReport",
    "RelayStatus",
    "RelayTuning",
    "SQLiteCheckpoints",
    "open_checkpoints",
    "relay_status",
]
