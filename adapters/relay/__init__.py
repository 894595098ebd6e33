"""The relay: publishes the event store's notification log to Kafka, at least once, in per-key order.

Modules: ``publisher`` (the outer loop: topic, producer, restarts),
``pipeline`` (all batching and the acknowledged prefix), ``messages`` (stored
row -> message), ``positions`` (the checkpoint table), ``wakers`` (when to read
again), ``retry`` (backoff and patience), ``tuning`` (knobs) and ``status``.
"""

from adapters.relay.pipeline import PublishError
from adapters.relay.positions import CheckpointStore, CheckpointTable, open_checkpoints
from adapters.relay.publisher import KafkaUnavailableError, Relay, RelayReport
from adapters.relay.status import RelayStatus, relay_status
from adapters.relay.tuning import RelayTuning

__all__ = [
    "CheckpointStore",
    "CheckpointTable",
    "KafkaUnavailableError",
    "PublishError",
    "Relay",
    "RelayReport",
    "RelayStatus",
    "RelayTuning",
    "open_checkpoints",
    "relay_status",
]
