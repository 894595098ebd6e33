"""Rebuilds: replay a projection from offset zero into shadow tables, then swap them in.

The end offsets are taken at the start; when the shadow tables reach them,
one transaction replaces the live tables, moves the rebuild's checkpoints to
live and records the code version (:meth:`ProjectionStore.swap_in`). Until
then readers see the old tables. An interrupted rebuild resumes from its own
checkpoints if the code and table definitions are unchanged, else starts
over. A projection keyed by order id alone is replayed by several processes
(``adapters.runner.parallel``); any other by this one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from adapters.bootstrap import System
from adapters.runner import parallel
from adapters.runner.halts import ProjectionHaltedError, prepare
from adapters.runner.replay import FLUSH_EVERY, ReplayWorker, fewer_collections, replay_embedded, replay_kafka
from adapters.runner.stats import Progress, ProgressCallback, RunStats
from adapters.runner.worker import BATCH_SIZE
from adapters.sql.migrations import check_schema
from adapters.sql.shadow import schema_fingerprint, shadow_tables
from adapters.sql.store import ProjectionStore
from projections.contract import Projection


def rebuild(
    system: System,
    projection: type[Projection],
    progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    """Replay ``projection`` from offset zero into shadow tables and swap them in (``progress``: after each batch)."""
    check_schema(system.read_models_for_reading, system.settings, [projection])
    prepare(system.read_models, projection)
    stats = rebuild_into_shadow(system, projection, progress, batch_size, flush_every)
    stats.rebuilt.append(projection.name)
    return stats


class Replayed(NamedTuple):
    """What a replay did, and the rebuild checkpoints it committed last (as stored: the swap checks them)."""

    stats: RunStats
    committed: dict[int, int]


@dataclass(frozen=True)
class RebuildJob:
    """One rebuild of a projection into its shadow tables, as the replay paths need it."""

    system: System
    projection: type[Projection]
    store: ProjectionStore  # the rebuild target's
    created_empty: bool  # the shadow tables were created empty for this rebuild
    fingerprint: str
    progress: ProgressCallback | None
    batch_size: int
    flush_every: int
    started: float


def rebuild_into_shadow(
    system: System,
    projection: type[Projection],
    progress: ProgressCallback | None,
    batch_size: int,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    """The rebuild itself, for a projection already checked and prepared."""
    started = time.perf_counter()
    engine = system.read_models
    tables = shadow_tables(projection, postgres=engine.dialect.name == "postgresql")
    # The embedded log split by order keeps one checkpoint per share: a
    # rebuild resumes them only with as many shares.
    order_shares = 1 if system.uses_kafka else parallel.embedded_shares(system, projection)
    fingerprint = schema_fingerprint(projection, engine) + (f"/{order_shares} shares" if order_shares > 1 else "")
    store = ProjectionStore(engine, tables, fingerprint=fingerprint)
    resumed = store.begin_rebuild(fingerprint)
    job = RebuildJob(system, projection, store, not resumed, fingerprint, progress, batch_size, flush_every, started)
    merged: Mapping[int, int] | None = None  # what the per-share checkpoints become at the swap
    if system.uses_kafka:
        ends = asyncio.run(system.kafka_source.end_offsets())
        if parallel.splittable(system.settings, projection, len(ends)):
            stats, committed = _replay_in_processes(job, ends)
        else:
            stats, committed = _replay_in_process(job, ends)
    elif order_shares > 1:
        merged = system.embedded_source.end_offsets()
        stats, committed = _replay_in_processes(job, merged, order_shares)
    else:
        stats, committed = _replay_in_process(job, None)
    store.index_shadow()
    store.swap_in(committed, merged)
    stats.seconds = time.perf_counter() - started
    return stats


def _replay_in_process(job: RebuildJob, ends: Mapping[int, int] | None) -> Replayed:
    """Replay in this process; the run's figures and the checkpoints it committed last."""
    worker = ReplayWorker(
        job.system.read_models, job.projection, job.store.tables, created_empty=job.created_empty,
        flush_every=job.flush_every, fingerprint=job.fingerprint,
    )
    starts = worker.reload()
    with fewer_collections():
        if job.system.uses_kafka:
            replay = replay_kafka(
                job.system.kafka_source, worker, starts, job.progress, job.batch_size, job.started, ends
            )
            stats = asyncio.run(replay)
        else:
            stats = replay_embedded(
                job.system.embedded_source, worker, starts, job.progress, job.batch_size, job.started, ends
            )
    if worker.halted_at is None:
        worker.flush()
        return Replayed(stats, worker.checkpoints())
    raise ProjectionHaltedError(
        f"rebuild of {job.projection.name} stopped at {worker.halted_at.describe()}: "
        f"{worker.halt_error()}; the live tables are unchanged"
    )


def _replay_in_processes(
    job: RebuildJob, ends: Mapping[int, int], order_shares: int = 1
) -> Replayed:
    """The partitions (Kafka) or the orders (embedded) shared out over processes (see ``adapters.runner.parallel``)."""
    name = job.projection.name
    starts = job.store.read_checkpoints()
    if order_shares > 1:  # one checkpoint per share of the log's one partition: where the slowest is
        starts = {p: min(starts.get(k, 0) for k in range(order_shares)) for p in ends}
    total = sum(max(0, end - starts.get(p, 0)) for p, end in ends.items())

    def on_progress(done: int, events: int) -> None:
        if job.progress is not None:
            job.progress(Progress(name, min(done, total), total, events, time.perf_counter() - job.started))

    on_progress(0, 0)
    shares = parallel.replay_in_processes(
        job.system, job.projection, ends, created_empty=job.created_empty, fingerprint=job.fingerprint,
        batch_size=job.batch_size, flush_every=job.flush_every, on_progress=on_progress, order_shares=order_shares,
    )
    # shares[0] was replayed in this process; the others each in a worker process.
    stats = RunStats(processes=len(shares), worker_peak_rss_mb=[share.peak_rss_mb for share in shares[1:]])
    committed: dict[int, int] = {}
    for share in shares:
        stats.merge(share.stats)
        committed.update(share.checkpoints)
    halts = [share.halt for share in shares if share.halt is not None]
    if halts:
        raise ProjectionHaltedError(f"rebuild of {name} stopped at {halts[0]}; the live tables are unchanged")
    # Every share reached its end offsets; the last reports may not say so (a
    # share of the orders ends at its own last event, not at the log's).
    on_progress(total, stats.events)
    return Replayed(stats, committed)
