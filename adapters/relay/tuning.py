"""The relay's knobs: batch sizes, in-flight bound, producer timeouts, patience and checkpoint interval."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.relay.retry import Backoff


@dataclass(frozen=True)
class RelayTuning:
    """Throughput and patience knobs, measured by bench/relay.py: see docs/benchmarks.md#relay-tuning."""

    read_limit: int = 2000            # messages per read batch (one select of the log)
    max_in_flight_batches: int = 8    # read batches sent but not yet acknowledged
    linger_ms: int = 2
    max_batch_size: int = 512 * 1024  # bytes per record batch (one per partition; broker limit ~1 MiB)
    request_timeout_ms: int = 40000
    backoff: Backoff = field(default_factory=Backoff)
    shutdown_grace: float = 30.0      # seconds to wait for acks after SIGTERM
    stall_log_after: float = 2.0      # seconds without acks before logging the wait
    once_patience: float = 60.0       # with --once: seconds Kafka may stay unusable before giving up
    # Seconds between checkpoint writes while publishing (and one at the end), not a
    # commit per acknowledged batch: see docs/benchmarks.md#relay-checkpoint-interval.
    checkpoint_every: float = 0.1
