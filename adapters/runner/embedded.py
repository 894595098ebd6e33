"""The embedded loop: projections fed from the event store's log directly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from sqlalchemy import Engine

from adapters.eventstore.source import EmbeddedSource
from adapters.runner.halts import STATE_RECHECK_SECONDS, halt_message, state_of
from adapters.runner.stats import RunStats
from adapters.runner.worker import Worker
from adapters.sql import schema as bk
from adapters.sql.bookkeeping import FencedError
from adapters.sql.rows import live_tables
from projections.contract import Projection

log = logging.getLogger(__name__)


def run_embedded(
    engine: Engine,
    source: EmbeddedSource,
    projections: Sequence[type[Projection]],
    until_caught_up: bool,
    stop: threading.Event,
    batch_size: int,
    poll_interval: float,
) -> RunStats:
    stats = RunStats()
    workers = [Worker(engine, p, live_tables(p)) for p in projections]
    halted: dict[str, float] = {}  # name -> when its state was last checked
    for worker in workers:
        worker.reload()
        state = state_of(engine, worker.name)
        if state.state == bk.HALTED:
            stats.halted[worker.name] = halt_message(worker.name, state)
            halted[worker.name] = time.monotonic()
    ends = source.end_offsets()
    while not stop.is_set():
        progressed = False
        for worker in workers:
            if worker.name in halted:
                if until_caught_up or time.monotonic() - halted[worker.name] < STATE_RECHECK_SECONDS:
                    continue
                halted[worker.name] = time.monotonic()
                if state_of(engine, worker.name).state == bk.HALTED:
                    continue
                del halted[worker.name]
                stats.halted.pop(worker.name, None)
                worker.reload()
            if until_caught_up and worker.caught_up(ends):
                continue
            messages = source.read(worker.next_offset(0), batch_size)
            if not messages:
                continue
            try:
                result = worker.process(messages)
            except FencedError as e:
                log.info("%s: fenced (%s); re-read offsets", worker.name, e)
                stats.fenced += 1
                progressed = True  # the offsets were reloaded: read again before concluding
                continue
            stats.add(result)
            progressed = True
            if result.halt is not None:
                state = state_of(engine, worker.name)
                stats.halted[worker.name] = halt_message(worker.name, state)
                halted[worker.name] = time.monotonic()
                log.error("%s", stats.halted[worker.name])
        if until_caught_up and all(w.name in halted or w.caught_up(ends) for w in workers):
            break
        if not progressed:
            if until_caught_up:
                # Nothing more to read below the end offsets (gaps at the end of the log).
                break
            stop.wait(poll_interval)
    return stats
