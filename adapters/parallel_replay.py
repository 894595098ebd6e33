"""Partition-parallel rebuilds from Kafka: one process per share of the partitions.

A projection whose every table is keyed by the order id alone (its versions
table always is) has rows that depend on one order's events only, and one
order's events are all in one partition (the key is the order id). Workers
that replay disjoint sets of partitions therefore write disjoint rows: each
runs the ordinary :class:`~adapters.replay.ReplayWorker` on its partitions, in
its own process (Python runs one thread at a time: processes use the cores),
with its own checkpoints, fenced on its own partitions only. The rebuild's
lock still serialises their commits.

Projections with shared rows (per customer, per SKU, ...) are replayed by one
process, as before: two workers could not both read-modify-write such a row.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import queue as queue_module
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.config import Settings
from adapters.read_models import ORDER_KEY_COLUMNS
from projections.contract import Projection

POLL_SECONDS = 0.2


class ParallelReplayError(RuntimeError):
    """A worker process of a partition-parallel rebuild failed."""


def order_keyed(projection: type[Projection]) -> bool:
    """Every table of ``projection`` is keyed by the order id alone."""
    return all(
        len(t.primary_key.columns) == 1 and t.primary_key.columns[0].name in ORDER_KEY_COLUMNS
        for t in projection.tables()
    )


def importable(projection: type[Projection]) -> bool:
    """A worker process can import ``projection`` by its module and name."""
    try:
        module = importlib.import_module(projection.__module__)
    except ImportError:
        return False
    return getattr(module, projection.__qualname__, None) is projection


def splittable(settings: Settings, projection: type[Projection], partitions: int) -> bool:
    """Whether a rebuild of ``projection`` from ``partitions`` partitions runs in several processes."""
    return process_count(settings, partitions) > 1 and order_keyed(projection) and importable(projection)


def process_count(settings: Settings, partitions: int) -> int:
    wanted = settings.rebuild_processes or os.cpu_count() or 1
    return max(1, min(wanted, partitions))


def split(partitions: list[int], shares: int) -> list[list[int]]:
    """``partitions`` dealt round-robin into ``shares`` non-empty lists."""
    return [partitions[i::shares] for i in range(shares) if partitions[i::shares]]


@dataclass(frozen=True)
class ShareResult:
    """What one worker process did (or why it stopped)."""

    events: int
    applied: int
    duplicates: int
    dead: int
    parked: int
    batches: int
    halt: str | None = None  # "<where>: <error>" if a halt projection stopped
    error: str | None = None  # the worker failed
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory


def replay_in_processes(
    settings: Settings,
    projection: type[Projection],
    ends: Mapping[int, int],
    *,
    fresh: bool,
    batch_size: int,
    flush_every: int,
    on_progress: Callable[[int, int], None],
) -> list[ShareResult]:
    """Replay ``projection``'s shadow tables up to ``ends``, one process per share of the partitions.

    ``on_progress(done, events)`` is called with the offsets consumed and the
    messages applied so far, summed over the processes. A worker that fails
    stops the others (their committed work stays, and is resumed by the next
    rebuild); its error is raised as :class:`ParallelReplayError`.
    """
    shares = split(sorted(ends), process_count(settings, len(ends)))
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(i, settings, projection.__module__, projection.__qualname__,
                  {p: ends[p] for p in share}, fresh, batch_size, flush_every, reports, os.getpid()),
            name=f"rebuild-{projection.name}-{i}",
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    results: dict[int, ShareResult] = {}
    progress: dict[int, tuple[int, int]] = {}
    try:
        while len(results) < len(processes):
            try:
                kind, index, payload = reports.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                _check_alive(processes, results)
                continue
            if kind == "progress":
                progress[index] = payload
                on_progress(sum(d for d, _ in progress.values()), sum(e for _, e in progress.values()))
            else:
                results[index] = payload
                if payload.error is not None:
                    raise ParallelReplayError(payload.error)
    finally:
        for process in processes:
            if process.is_alive() and len(results) < len(processes):
                process.terminate()
            process.join(timeout=30)
    return [results[i] for i in range(len(processes))]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux's VmHWM; else getrusage, which may include the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_alive(processes: list[Any], results: Mapping[int, ShareResult]) -> None:
    for i, process in enumerate(processes):
        if i not in results and not process.is_alive() and process.exitcode not in (0, None):
            raise ParallelReplayError(
                f"rebuild worker {process.name} died (exit code {process.exitcode}); "
                "its committed work stays: run the rebuild again to resume"
            )


def _worker(
    index: int,
    settings: Settings,
    module: str,
    qualname: str,
    ends: dict[int, int],
    fresh: bool,
    batch_size: int,
    flush_every: int,
    reports: Any,
    parent: int,
) -> None:
    """One share of the partitions, in its own process; reports progress and its result."""
    try:
        result = _replay_share(index, settings, module, qualname, ends, fresh, batch_size, flush_every, reports, parent)
    except BaseException as e:  # reported to the parent, which raises it as one line
        result = ShareResult(0, 0, 0, 0, 0, 0, error=f"rebuild worker {index}: {type(e).__name__}: {e}")
    reports.put(("done", index, result))


def _replay_share(
    index: int,
    settings: Settings,
    module: str,
    qualname: str,
    ends: dict[int, int],
    fresh: bool,
    batch_size: int,
    flush_every: int,
    reports: Any,
    parent: int,
) -> ShareResult:
    from adapters import projection_runner as runner  # the loops; imported here, in the worker process
    from adapters import read_models as rm
    from adapters.replay import ReplayWorker, fewer_collections
    from adapters.sources import KafkaSource

    projection = getattr(importlib.import_module(module), qualname)
    engine = rm.create_read_model_engine(settings.read_model_url, writer=True)
    try:
        tables = rm.shadow_tables(projection, engine.dialect.name == "postgresql")
        worker = ReplayWorker(engine, projection, tables, fresh=fresh, flush_every=flush_every, partitions=ends)
        starts = worker.reload()

        def report(p: Any) -> None:
            if os.getppid() != parent:
                raise ParallelReplayError("the rebuild that started this worker is gone")
            reports.put(("progress", index, (p.done, p.events)))

        source = KafkaSource(settings.kafka_bootstrap, settings.topic)
        with fewer_collections():
            stats = asyncio.run(runner._replay_kafka(source, worker, starts, report, batch_size, time.perf_counter(), ends))  # noqa: SLF001
        halt = None
        if worker.halt is None:
            worker.flush()
        else:
            halt = f"{worker.halt.describe()}: {runner._last_halt_error(engine, projection.name, worker.halt)}"  # noqa: SLF001
        return ShareResult(
            stats.events, stats.applied, stats.duplicates, stats.dead, stats.parked, stats.batches, halt,
            peak_rss_mb=peak_rss_mb(),
        )
    finally:
        engine.dispose()
