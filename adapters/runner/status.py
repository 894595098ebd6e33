"""What the projections' state is: versions, offsets against the source's end (lag), errors, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.bootstrap import System
from adapters.sql.migrations import check_schema
from adapters.sql.rows import live_tables
from adapters.sql.store import ProjectionStore, StoredStatus
from projections.contract import Projection


@dataclass(frozen=True)
class PartitionStatus:
    partition: int
    offset: int  # the next offset to read
    end: int  # the source's end offset now
    lag: int


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    code_version: int
    version: int | None  # the version the live tables were built by (None: never run)
    state: str  # "new", "running", "halted"
    error_policy: str
    partitions: list[PartitionStatus]
    lag: int
    last_error: str | None
    failing_event: str | None  # event id, or "PARTITION:OFFSET" for an undecodable message
    dead_letters: dict[str, int]  # status -> count
    rebuild_in_progress: bool
    rebuild_pending: bool  # the code version is newer than the tables


def status(system: System, projections: Sequence[type[Projection]] | None = None) -> list[ProjectionStatus]:
    """Per projection (all found by default), its status.

    Versions, state, offsets against the source's end, errors, dead letters.
    """
    chosen = system.projections if projections is None else list(projections)
    engine = system.read_models_for_reading
    check_schema(engine, system.settings, chosen)
    if system.uses_kafka:
        ends = asyncio.run(system.kafka_source.end_offsets())
    else:
        ends = system.embedded_source.end_offsets()
    return [_status_of(p, ProjectionStore(engine, live_tables(p)).read_status(), ends) for p in chosen]


def _status_of(projection: type[Projection], stored: StoredStatus, ends: Mapping[int, int]) -> ProjectionStatus:
    state, offsets = stored.state, stored.checkpoints
    partitions = [
        PartitionStatus(p, offsets.get(p, 0), ends.get(p, 0), max(0, ends.get(p, 0) - offsets.get(p, 0)))
        for p in sorted(set(ends) | set(offsets))
    ]
    return ProjectionStatus(
        name=projection.name,
        code_version=projection.version,
        version=state.version if state else None,
        state=state.state if state else "new",
        error_policy=projection.error_policy,
        partitions=partitions,
        lag=sum(p.lag for p in partitions),
        last_error=state.last_error if state else None,
        failing_event=state.failing_at if state is not None and state.halted else None,
        dead_letters=stored.dead_letters,
        rebuild_in_progress=bool(stored.rebuild_checkpoints) or bool(state and state.rebuild_fingerprint),
        rebuild_pending=bool(state and state.version < projection.version),
    )
