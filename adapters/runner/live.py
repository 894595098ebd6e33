"""Running projections: apply new events, once or continuously."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from adapters.config import Settings
from adapters.runner.embedded import run_embedded
from adapters.runner.kafka import run_kafka
from adapters.runner.rebuilding import rebuild_into_shadow
from adapters.runner.setup import Sources, chosen_projections, prepare, writer_engine
from adapters.runner.stats import ProgressCallback, RunStats
from adapters.runner.worker import BATCH_SIZE
from adapters.sql.migrations import check_schema
from domain.application import Orders
from projections.contract import Projection

log = logging.getLogger(__name__)




def run(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    *,
    until_caught_up: bool = False,
    orders: Orders | None = None,
    stop: threading.Event | None = None,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> RunStats:
    """Apply new events to ``projections`` (all discovered ones by default).

    Continuous until ``stop`` is set, or, with ``until_caught_up``, until each
    projection reaches the source's end offsets taken at the start. A
    projection whose code version is newer than its tables is rebuilt first
    (``progress`` reports that rebuild). A halted projection is not run (and
    is named in ``stats.halted``); in continuous mode it is resumed once a
    ``retry`` or ``skip`` sets it running again.
    """
    started = time.perf_counter()
    chosen = chosen_projections(settings, projections)
    engine = writer_engine(settings)
    stop = stop or threading.Event()
    stats = RunStats()
    try:
        check_schema(engine, settings, chosen)
        sources = Sources(settings, orders)
        for projection in chosen:
            state = prepare(engine, projection)
            if state.version < projection.version:
                log.info("%s: code version %s > built version %s: rebuilding", projection.name, projection.version, state.version)
                stats.merge(rebuild_into_shadow(engine, settings, sources, projection, progress, batch_size))
                stats.rebuilt.append(projection.name)
        if sources.kafka is not None:
            stats.merge(run_kafka(engine, sources.kafka, chosen, until_caught_up, stop, batch_size))
        else:
            stats.merge(run_embedded(engine, sources.embedded, chosen, until_caught_up, stop, batch_size, settings.relay_poll_interval))
    finally:
        engine.dispose()
    stats.seconds = time.perf_counter() - started
    return stats


def run_until_caught_up(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    orders: Orders | None = None,
    **kwargs: Any,
) -> RunStats:
    """Apply every event that exists now, then return."""
    return run(settings, projections, until_caught_up=True, orders=orders, **kwargs)
