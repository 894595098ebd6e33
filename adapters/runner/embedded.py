"""The embedded loop: projections fed from the event store's log directly (one partition, offset = notification id).

Each projection reads the log from its own checkpoint, batch after batch, in
log order; the log has gaps (rolled-back inserts), which are never read. A
halted projection is skipped (and its state re-read every few seconds in
continuous mode); a fenced batch re-reads its checkpoint and reads again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from adapters.eventstore.source import EmbeddedSource
from adapters.runner.halts import HaltWatch, halt_message
from adapters.runner.stats import RunStats
from adapters.runner.worker import LiveBatchWriter
from adapters.sql.checkpoints import FencedError
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
    """Apply the log to ``projections`` until ``stop`` (or, ``until_caught_up``, its end offsets at the start)."""
    stats = RunStats()
    writers = [LiveBatchWriter(engine, p) for p in projections]
    watches: dict[str, HaltWatch] = {}
    for writer in writers:
        writer.reload()
        state = writer.store.read_state()
        watches[writer.name] = HaltWatch(writer.store, state)
        if state.halted:
            stats.halted[writer.name] = halt_message(writer.name, state)
    ends = source.end_offsets()
    while not stop.is_set():
        progressed = False
        for writer in writers:
            watch = watches[writer.name]
            if watch.halted:
                if until_caught_up or not watch.due() or watch.check().halted:
                    continue
                stats.halted.pop(writer.name, None)  # a retry or skip set it running again
                writer.reload()
            if until_caught_up and writer.caught_up(ends):
                continue
            messages = source.read(writer.next_offset(0), batch_size)
            if not messages:
                continue
            try:
                result = writer.process(messages)
            except FencedError as e:
                log.info("%s: fenced (%s); re-read offsets", writer.name, e)
                stats.fenced += 1
                progressed = True  # the offsets were reloaded: read again before concluding
                continue
            stats.add(result)
            progressed = True
            if result.halt is not None:
                stats.halted[writer.name] = halt_message(writer.name, watch.halt())
                log.error("%s", stats.halted[writer.name])
        if until_caught_up and all(watches[w.name].halted or w.caught_up(ends) for w in writers):
            break
        if not progressed:
            if until_caught_up:
                # Nothing more to read below the end offsets (gaps at the end of the log).
                break
            stop.wait(poll_interval)
    return stats
