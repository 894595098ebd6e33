"""The relay: publishes the event store's notification log to Kafka (see ``publisher``)."""

from adapters.relay.positions import CheckpointStore, PostgresCheckpoints, SQLiteCheckpoints, open_checkpoints
from adapters.relay.publisher import KafkaUnavailableError, PublishError, Relay, RelayReport, RelayTuning
from adapters.relay.status import RelayStatus, relay_status

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
