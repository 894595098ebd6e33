"""Running projections on their live tables: apply new events, until caught up or continuously.

A projection whose code ``version`` is newer than the version its tables
were built by is rebuilt first. Then one loop per source: the embedded log
(``adapters.runner.embedded``) or the Kafka topic (``adapters.runner.kafka``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from adapters.bootstrap import System
from adapters.runner.embedded import run_embedded
from adapters.runner.halts import prepare
from adapters.runner.kafka import run_kafka
from adapters.runner.rebuilding import rebuild_into_shadow
from adapters.runner.stats import ProgressCallback, RunStats
from adapters.runner.worker import BATCH_SIZE
from adapters.sql.migrations import check_schema
from projections.contract import Projection

log = logging.getLogger(__name__)


def run(
    system: System,
    projections: Sequence[type[Projection]] | None = None,
    *,
    until_caught_up: bool = False,
    stop: threading.Event | None = None,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> RunStats:
    """Apply new events to ``projections`` (all found by default).

    Continuous until ``stop`` is set, or, with ``until_caught_up``, until each
    projection reaches the source's end offsets taken at the start. A
    projection whose code version is newer than its tables is rebuilt first
    (``progress`` reports that rebuild). A halted projection is not run (and
    is named in ``stats.halted``); in continuous mode it is resumed once a
    ``retry`` or ``skip`` sets it running again.
    """
    started = time.perf_counter()
    chosen = system.projections if projections is None else list(projections)
    engine = system.read_models
    stop = stop or threading.Event()
    stats = RunStats()
    check_schema(system.read_models_for_reading, system.settings, chosen)
    for projection in chosen:
        state = prepare(engine, projection)
        if state.version < projection.version:
            log.info(
                "%s: code version %s > built version %s: rebuilding", projection.name, projection.version, state.version
            )
            stats.merge(rebuild_into_shadow(system, projection, progress, batch_size))
            stats.rebuilt.append(projection.name)
    if system.uses_kafka:
        stats.merge(run_kafka(engine, system.kafka_source, chosen, until_caught_up, stop, batch_size))
    else:
        poll = system.settings.relay_poll_interval
        stats.merge(run_embedded(engine, system.embedded_source, chosen, until_caught_up, stop, batch_size, poll))
    stats.seconds = time.perf_counter() - started
    return stats


def run_until_caught_up(
    system: System, projections: Sequence[type[Projection]] | None = None, **kwargs: Any
) -> RunStats:
    """Apply every event that exists now, then return."""
    return run(system, projections, until_caught_up=True, **kwargs)
