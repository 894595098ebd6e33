"""Parallel rebuilds: one process per share of the partitions (Kafka) or of the orders (embedded log).

A projection whose every table is keyed by the order id alone (its versions
table always is) has rows that depend on one order's events only, and one
order's events are all in one partition (the key is the order id). Workers
that replay disjoint sets of partitions therefore write disjoint rows: each
runs the ordinary :class:`~adapters.runner.replay.ReplayWorker` on its partitions, in
its own process (Python runs one thread at a time: processes use the cores),
with its own checkpoints, fenced on its own partitions only. The rebuild's
lock still serialises their commits. The rebuilding process replays the first
share itself; the others run as ``python -m adapters.runner.rebuild_worker``, their
job on stdin, their progress and result as lines on stdout.

The embedded log is one partition: there each worker reads the whole log
but only the events of its share of the orders (k of n by the order id's
last hex digit, filtered by the database, see ``adapters.eventstore.log``), and
stores its progress as a checkpoint of its own (partition k of the rebuild's
checkpoints); the swap turns them into the log's one checkpoint again, at the
end offset taken when the rebuild started, which every share replayed up to.

Projections with shared rows (per customer, per SKU, ...) are replayed by one
process, as before: two workers could not both read-modify-write such a row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import resource
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from adapters.bootstrap import System
from adapters.config import Settings
from adapters.eventstore.log import ORDER_SHARES, OrderShare
from adapters.eventstore.source import EMBEDDED_PARTITION, EmbeddedSource
from adapters.eventstore.wiring import eventsourcing_env
from adapters.runner.replay import MAX_CACHED_ROWS, ReplayWorker, fewer_collections, replay_embedded, replay_kafka
from adapters.runner.stats import Progress
from adapters.runner.worker_processes import ShareResult, ShareStopped, WorkerProcess, WorkerReports
from adapters.sql.checkpoints import CheckpointKeys
from adapters.sql.rows import all_keyed_by_order
from adapters.sql.shadow import shadow_tables
from domain.application import Orders
from projections.contract import Projection


def importable(projection: type[Projection]) -> bool:
    """A worker process can import ``projection`` by its module and name.

    Not one defined in a script (``__main__``): a worker's ``__main__`` is
    ``adapters.runner.rebuild_worker``.
    """
    if projection.__module__ == "__main__":
        return False
    try:
        module = importlib.import_module(projection.__module__)
    except ImportError:
        return False
    return getattr(module, projection.__qualname__, None) is projection


def splittable(settings: Settings, projection: type[Projection], partitions: int) -> bool:
    """Whether a rebuild of ``projection`` from ``partitions`` partitions runs in several processes."""
    return process_count(settings, partitions) > 1 and all_keyed_by_order(projection) and importable(projection)


def embedded_shares(system: System, projection: type[Projection]) -> int:
    """Into how many shares of the orders a rebuild of ``projection`` from the event store's log is split (1: none).

    Only when the worker processes, opening the store from the settings
    themselves, open the very store this process uses, the same way.
    """
    count = process_count(system.settings, ORDER_SHARES)
    if count == 1 or not (all_keyed_by_order(projection) and importable(projection)):
        return 1
    if not system.embedded_source.log.shareable or not _opens_store_of(system.settings, system.orders):
        return 1
    return count


def _opens_store_of(settings: Settings, orders: Orders) -> bool:
    """``open_orders(settings)`` in a worker opens the store ``orders`` uses, the same way (never one in memory)."""
    wanted = eventsourcing_env(settings)
    sqlite_file = wanted.get("SQLITE_DBNAME", "")
    if ":memory:" in sqlite_file or "mode=memory" in sqlite_file:
        return False
    # What eventsourcing would configure a worker's store from (its defaults,
    # the inherited process environment, the settings) equals what ``orders``
    # was configured from: the same store, schema, cipher and compressor.
    return _store_config(orders.construct_env(orders.name, wanted)) == _store_config(orders.env)


_STORE_KEYS = ("PERSISTENCE_MODULE", "SQLITE_", "POSTGRES_", "CIPHER_", "COMPRESSOR_")


def _store_config(env: Mapping[str, str]) -> dict[str, str]:
    """The entries of an eventsourcing environment that say where and how events are stored."""
    return {k: v for k, v in env.items() if k.removeprefix("ORDERS_").startswith(_STORE_KEYS)}


def process_count(settings: Settings, partitions: int) -> int:
    """``ORDERS_REBUILD_PROCESSES`` (0: one per CPU core), at most one per partition."""
    wanted = settings.rebuild_processes or os.cpu_count() or 1
    return max(1, min(wanted, partitions))


def per_process(total: int, processes: int) -> int:
    """Each process's part of a bound set for a whole rebuild (rows in memory, ...): at least 1."""
    return max(1, total // processes)


def split(partitions: list[int], shares: int) -> list[list[int]]:
    """``partitions`` dealt round-robin into ``shares`` non-empty lists."""
    return [partitions[i::shares] for i in range(shares) if partitions[i::shares]]


class ShareJob(NamedTuple):
    """One process's part of a split rebuild: the end offsets it replays up to, and its share of the orders."""

    ends: dict[int, int]
    order_share: OrderShare | None  # None: a share of the partitions (Kafka)


def replay_in_processes(
    system: System,
    projection: type[Projection],
    ends: Mapping[int, int],
    *,
    created_empty: bool,
    batch_size: int,
    flush_every: int,
    on_progress: Callable[[int, int], None],
    fingerprint: str | None = None,
    max_cached_rows: int = MAX_CACHED_ROWS,
    order_shares: int = 1,
) -> list[ShareResult]:
    """Replay ``projection``'s shadow tables up to ``ends``, shared out over processes.

    Kafka (``order_shares`` 1): each process replays a share of the
    partitions. The embedded log (``ends`` = its one partition): each of
    ``order_shares`` processes replays its share of the orders.

    This process replays the first share itself and starts one worker process
    per other share. ``flush_every`` and ``max_cached_rows`` bound the whole
    rebuild: each process gets its part. ``on_progress(done, events)`` is
    called (in this thread) with the offsets consumed (summed over the shares
    of the partitions, or their mean over the shares of the orders) and the
    messages applied so far by all shares. A failing worker stops the rebuild
    (the committed work of every share stays, and the next rebuild resumes
    it); its error is raised as :class:`ParallelReplayError`.
    """
    settings = system.settings
    if order_shares > 1:
        shares = [ShareJob(dict(ends), OrderShare(k, order_shares)) for k in range(order_shares)]
    else:
        parts = split(sorted(ends), process_count(settings, len(ends)))
        shares = [ShareJob({p: ends[p] for p in part}, None) for part in parts]
    flush_every = per_process(flush_every, len(shares))
    max_cached_rows = per_process(max_cached_rows, len(shares))
    scale = order_shares  # every share of the orders reads through the whole log
    job = {
        "settings": dataclasses.asdict(settings),
        "module": projection.__module__,
        "qualname": projection.__qualname__,
        "created_empty": created_empty,
        "fingerprint": fingerprint,
        "batch_size": batch_size,
        "flush_every": flush_every,
        "max_cached_rows": max_cached_rows,
        "parent": os.getpid(),
    }
    processes: list[WorkerProcess] = []
    reader: WorkerReports | None = None
    try:
        for i, share in enumerate(shares[1:], start=1):
            job_ends = {str(p): o for p, o in share.ends.items()}
            processes.append(WorkerProcess.start(i, {**job, "ends": job_ends, "share": share.order_share}))
        reader = WorkerReports(processes)
        reader.start()

        def report(done: int, events: int) -> None:
            reader.stop_if_needed()
            others = reader.totals()
            on_progress((done + others.done) // scale, events + others.events)

        try:
            here = replay_share(
                system, projection, shares[0].ends, shares[0].order_share, created_empty, fingerprint, batch_size,
                flush_every,
                max_cached_rows, report,
            )
        except ShareStopped:
            here = ShareResult()  # another share failed or halted: reported below
        if here.halt is None:
            while reader.is_alive():  # the other shares: keep reporting their progress
                reader.join(timeout=0.5)
                others = reader.totals()
                on_progress((others.done + here.done) // scale, others.events + here.stats.events)
        reader.raise_failure()
        return [here, *reader.results()]
    finally:
        # Stop the workers first (a halt, a failure, an interrupt), then the
        # reader (it sees their ends), then close their pipes and files.
        for process in processes:
            process.stop()
        if reader is not None:
            reader.join(timeout=30)
        for process in processes:
            process.close()


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux's VmHWM; else getrusage, which may include the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def replay_share(
    system: System,
    projection: type[Projection],
    ends: dict[int, int],
    order_share: OrderShare | None,
    created_empty: bool,
    fingerprint: str | None,
    batch_size: int,
    flush_every: int,
    max_cached_rows: int,
    report: Callable[[int, int], None],
) -> ShareResult:
    """Replay the partitions of ``ends`` (or the embedded log's ``order_share``) into the shadow tables.

    In whichever process calls it (the rebuilding one, or a worker process).
    """
    engine = system.read_models
    tables = shadow_tables(projection, engine.dialect.name == "postgresql")
    if order_share is None:
        keys = CheckpointKeys.of_partitions(ends)
    else:
        keys = CheckpointKeys.of_share(order_share.number, EMBEDDED_PARTITION)
    worker = ReplayWorker(
        engine, projection, tables, created_empty=created_empty, flush_every=flush_every,
        max_cached_rows=max_cached_rows, keys=keys, fingerprint=fingerprint,
    )
    starts = worker.reload()
    done = 0

    def on_batch(p: Progress) -> None:
        nonlocal done
        done = p.done
        report(p.done, p.events)

    with fewer_collections():
        if order_share is None:
            replay = replay_kafka(system.kafka_source, worker, starts, on_batch, batch_size, time.perf_counter(), ends)
            stats = asyncio.run(replay)
        else:
            embedded = EmbeddedSource(system.orders, share=order_share)
            stats = replay_embedded(embedded, worker, starts, on_batch, batch_size, time.perf_counter(), ends)
    halt = None
    if worker.halted_at is None:
        worker.flush()
    else:
        halt = f"{worker.halted_at.describe()}: {worker.halt_error()}"
    return ShareResult(done, stats, halt, peak_rss_mb=peak_rss_mb(), checkpoints=worker.checkpoints())
