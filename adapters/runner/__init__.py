"""The projection runner: source -> decode -> apply -> one SQL transaction per batch.

The public API (the CLI, the demo, tests and benchmarks use these; each takes
the ``System`` that ``adapters.bootstrap.open_system`` opened):

* :func:`run` / :func:`run_until_caught_up` -- apply new events to projections;
* :func:`rebuild` -- replay from offset zero into shadow tables, then swap;
* :func:`status` -- versions, states, offsets, lag, errors, dead letters;
* :func:`retry` / :func:`skip` -- resolve a halted projection or dead letters.

Guarantees: each batch's rows, per-order versions, checkpoints, dead letters
and state commit together; checkpoint writes are fenced (a stale writer is
rolled back and re-reads its offsets, then seeks); a projection whose code
``version`` is newer than the version its tables were built by is rebuilt
before it runs; a rebuild swaps in only complete tables.
"""

from adapters.config import ConfigurationError
from adapters.runner.halts import ProjectionHaltedError
from adapters.runner.live import run, run_until_caught_up
from adapters.runner.rebuilding import rebuild
from adapters.runner.repair import RetryStats, retry, skip
from adapters.runner.stats import Progress, ProgressCallback, RunStats
from adapters.runner.status import PartitionStatus, ProjectionStatus, status
from adapters.runner.worker import BATCH_SIZE, LiveBatchWriter
from adapters.source import SourceUnavailableError
from adapters.sql.checkpoints import FencedError

__all__ = [
    "BATCH_SIZE",
    "ConfigurationError",
    "FencedError",
    "PartitionStatus",
    "Progress",
    "ProgressCallback",
    "ProjectionHaltedError",
    "ProjectionStatus",
    "RetryStats",
    "RunStats",
    "SourceUnavailableError",
    "LiveBatchWriter",
    "rebuild",
    "retry",
    "run",
    "run_until_caught_up",
    "skip",
    "status",
]
