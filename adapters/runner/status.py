"""What a projection's state is: versions, offsets against the source's end, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.config import Settings
from adapters.runner.setup import Sources, chosen_projections
from adapters.sql import schema as bk
from adapters.sql.bookkeeping import read_offsets, read_state
from adapters.sql.dead_letters import count_dead_letters
from adapters.sql.engines import create_read_model_engine
from adapters.sql.migrations import check_schema
from domain.application import Orders
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


def status(
    settings: Settings,
    projections: Sequence[type[Projection]] | None = None,
    orders: Orders | None = None,
) -> list[ProjectionStatus]:
    """Per projection: versions, state, offsets against the source's end, errors, dead letters."""
    chosen = chosen_projections(settings, projections)
    engine = create_read_model_engine(settings.read_model_url)
    try:
        check_schema(engine, settings, chosen)
        sources = Sources(settings, orders)
        if sources.kafka is not None:
            ends = asyncio.run(sources.kafka.end_offsets())
        else:
            ends = sources.embedded.end_offsets()
        result = []
        with engine.connect() as conn:
            for projection in chosen:
                result.append(_status_of(conn, projection, ends))
            conn.rollback()
    finally:
        engine.dispose()
    return result


def _status_of(conn: Any, projection: type[Projection], ends: Mapping[int, int]) -> ProjectionStatus:
    state = read_state(conn, projection.name)
    offsets = read_offsets(conn, projection.name, bk.LIVE)
    partitions = [
        PartitionStatus(p, offsets.get(p, 0), ends.get(p, 0), max(0, ends.get(p, 0) - offsets.get(p, 0)))
        for p in sorted(set(ends) | set(offsets))
    ]
    failing = None
    if state is not None and state.state == bk.HALTED:
        failing = state.failing_event_id or f"{state.failing_partition}:{state.failing_offset}"
    return ProjectionStatus(
        name=projection.name,
        code_version=projection.version,
        version=state.version if state else None,
        state=state.state if state else "new",
        error_policy=projection.error_policy,
        partitions=partitions,
        lag=sum(p.lag for p in partitions),
        last_error=state.last_error if state else None,
        failing_event=failing,
        dead_letters=count_dead_letters(conn, projection.name),
        rebuild_in_progress=bool(read_offsets(conn, projection.name, bk.REBUILD))
        or bool(state and state.rebuild_fingerprint),
        rebuild_pending=bool(state and state.version < projection.version),
    )
