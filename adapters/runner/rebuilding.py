"""Rebuilds: replay from offset zero into shadow tables, then swap them in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from adapters.config import Settings
from adapters.runner import parallel
from adapters.runner.halts import ProjectionHaltedError
from adapters.runner.replay import (
    FLUSH_EVERY,
    ReplayWorker,
    fewer_collections,
    last_halt_error,
    replay_embedded,
    replay_kafka,
)
from adapters.runner.setup import Sources, prepare, writer_engine
from adapters.runner.stats import Progress, ProgressCallback, RunStats
from adapters.runner.worker import BATCH_SIZE
from adapters.sql import schema as bk
from adapters.sql.bookkeeping import (
    FencedError,
    lock,
    read_offsets,
    read_state,
    replace_offsets,
    set_rebuild_fingerprint,
)
from adapters.sql.migrations import check_schema
from adapters.sql.rows import Tables
from adapters.sql.shadow import (
    create_shadow,
    drop_shadow,
    existing_tables,
    index_shadow_pg,
    schema_fingerprint,
    shadow_tables,
    swap_in,
)
from domain.application import Orders
from projections.contract import Projection


def rebuild(
    settings: Settings,
    projection: type[Projection],
    progress: ProgressCallback | None = None,
    orders: Orders | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    """Replay ``projection`` from offset zero into shadow tables and swap them in.

    The end offsets are taken at the start; when the shadow tables reach
    them, one transaction replaces the live tables, moves the rebuild's
    checkpoints to live and records the code version. Until then readers see
    the old tables. An interrupted rebuild resumes from its own checkpoints if
    the code and table definitions are unchanged, else starts over.
    """
    engine = writer_engine(settings)
    try:
        check_schema(engine, settings, [projection])
        prepare(engine, projection)
        stats = rebuild_into_shadow(engine, settings, Sources(settings, orders), projection, progress, batch_size, flush_every)
    finally:
        engine.dispose()
    stats.rebuilt.append(projection.name)
    return stats


def rebuild_into_shadow(
    engine: Engine,
    settings: Settings,
    sources: Sources,
    projection: type[Projection],
    progress: ProgressCallback | None,
    batch_size: int,
    flush_every: int = FLUSH_EVERY,
) -> RunStats:
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    tables = shadow_tables(projection, postgres)
    # The embedded log split by order keeps one checkpoint per share: a
    # rebuild resumes them only with as many shares.
    order_shares = 1 if sources.kafka is not None else parallel.embedded_shares(settings, projection, sources.orders)
    fingerprint = schema_fingerprint(projection, engine) + (f"/{order_shares} shares" if order_shares > 1 else "")
    with engine.begin() as conn:
        lock(conn, projection.name, bk.REBUILD)
        state = read_state(conn, projection.name)
        present = existing_tables(conn)
        resumable = (
            state is not None
            and state.rebuild_fingerprint == fingerprint
            and all(t.name in present for t in tables.physical.values())
        )
        if not resumable:
            drop_shadow(conn, tables)
            create_shadow(conn, tables)
            set_rebuild_fingerprint(conn, projection.name, fingerprint)
    job = _RebuildJob(
        engine, settings, projection, tables, not resumable, fingerprint, progress, batch_size, flush_every, started
    )
    one_checkpoint: Mapping[int, int] | None = None  # what the per-share checkpoints become at the swap
    if sources.kafka is not None:
        ends = asyncio.run(sources.kafka.end_offsets())
        if parallel.splittable(settings, projection, len(ends)):
            stats, committed = _replay_in_processes(job, ends)
        else:
            stats, committed = _replay_in_process(job, sources, ends)
    elif order_shares > 1:
        one_checkpoint = sources.embedded.end_offsets()
        stats, committed = _replay_in_processes(job, one_checkpoint, order_shares)
    else:
        stats, committed = _replay_in_process(job, sources, None)
    if postgres:
        with engine.begin() as conn:
            index_shadow_pg(conn, tables)
    _swap(job, committed, one_checkpoint)
    stats.seconds = time.perf_counter() - started
    return stats


@dataclass(frozen=True)
class _RebuildJob:
    """One rebuild of a projection into its shadow tables, as the replay paths need it."""

    engine: Engine
    settings: Settings
    projection: type[Projection]
    tables: Tables
    fresh: bool  # the shadow tables were created empty for this rebuild
    fingerprint: str
    progress: ProgressCallback | None
    batch_size: int
    flush_every: int
    started: float


def _swap(job: _RebuildJob, committed: Mapping[int, int], one_checkpoint: Mapping[int, int] | None) -> None:
    """Swap the shadow tables in, if they are still this rebuild's: fenced under the rebuild lock.

    Another rebuild may have replaced the shadow tables (other code, another
    number of processes) or moved their checkpoints since this one's last
    commit: then :class:`FencedError`, and the live tables stay as they were.
    ``one_checkpoint``: the log's one checkpoint that a rebuild split by order
    swaps in instead of its per-share ones.
    """
    name = job.projection.name
    with job.engine.begin() as conn:
        lock(conn, name, bk.REBUILD)
        state = read_state(conn, name)
        if state is None or state.rebuild_fingerprint != job.fingerprint:
            raise FencedError(f"{name} (rebuild): another rebuild replaced the shadow tables before the swap")
        if read_offsets(conn, name, bk.REBUILD) != dict(committed):
            raise FencedError(f"{name} (rebuild): another rebuild moved the checkpoints before the swap")
        if one_checkpoint is not None:
            replace_offsets(conn, name, bk.REBUILD, one_checkpoint)
        swap_in(conn, job.tables)


def _replay_in_process(
    job: _RebuildJob, sources: Sources, ends: Mapping[int, int] | None
) -> tuple[RunStats, dict[int, int]]:
    """Replay in this process; the run's figures and the checkpoints it committed last."""
    worker = ReplayWorker(
        job.engine, job.projection, job.tables, fresh=job.fresh, flush_every=job.flush_every,
        fingerprint=job.fingerprint,
    )
    starts = worker.reload()
    with fewer_collections():
        if sources.kafka is not None:
            replay = replay_kafka(sources.kafka, worker, starts, job.progress, job.batch_size, job.started, ends)
            stats = asyncio.run(replay)
        else:
            stats = replay_embedded(sources.embedded, worker, starts, job.progress, job.batch_size, job.started, ends)
    if worker.halt is None:
        worker.flush()
        return stats, worker.checkpoints()
    raise ProjectionHaltedError(
        f"rebuild of {job.projection.name} stopped at {worker.halt.describe()}: "
        f"{last_halt_error(job.engine, job.projection.name, worker.halt)}; the live tables are unchanged"
    )


def _replay_in_processes(
    job: _RebuildJob, ends: Mapping[int, int], order_shares: int = 1
) -> tuple[RunStats, dict[int, int]]:
    """The partitions (Kafka) or the orders (embedded) shared out over processes (see ``adapters.runner.parallel``)."""
    name = job.projection.name
    with job.engine.connect() as conn:
        starts = read_offsets(conn, name, bk.REBUILD)
        conn.rollback()
    if order_shares > 1:  # one checkpoint per share of the log's one partition: where the slowest is
        starts = {p: min(starts.get(k, 0) for k in range(order_shares)) for p in ends}
    total = sum(max(0, end - starts.get(p, 0)) for p, end in ends.items())

    def on_progress(done: int, events: int) -> None:
        if job.progress is not None:
            job.progress(Progress(name, min(done, total), total, events, time.perf_counter() - job.started))

    on_progress(0, 0)
    shares = parallel.replay_in_processes(
        job.settings, job.projection, ends, fresh=job.fresh, fingerprint=job.fingerprint,
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
    return stats, committed
