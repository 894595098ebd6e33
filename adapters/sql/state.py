"""A projection's state row: the version its live tables were built by, running or halted, a rebuild under way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.schema import ProjectionState, projection_state
from projections.apply import Halt
from projections.contract import Projection


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class StateRow:
    projection: str
    version: int
    state: str
    last_error: str | None
    failing_event_id: str | None
    failing_partition: int | None
    failing_offset: int | None
    rebuild_fingerprint: str | None

    @property
    def halted(self) -> bool:
        return self.state == ProjectionState.HALTED

    @property
    def failing_at(self) -> str:
        """The message it is halted at: its event id, or ``PARTITION:OFFSET`` for an undecodable message."""
        return self.failing_event_id or f"{self.failing_partition}:{self.failing_offset}"


def read_state(conn: Connection, projection: str) -> StateRow | None:
    s = projection_state.c
    row = conn.execute(select(projection_state).where(s.projection == projection)).mappings().first()
    if row is None:
        return None
    return StateRow(
        projection=row["projection"],
        version=row["version"],
        state=row["state"],
        last_error=row["last_error"],
        failing_event_id=row["failing_event_id"],
        failing_partition=row["failing_partition"],
        failing_offset=row["failing_offset"],
        rebuild_fingerprint=row["rebuild_fingerprint"],
    )


def ensure_state(conn: Connection, projection: type[Projection]) -> StateRow:
    """The projection's state row, created (running, at the code's version) if new."""
    state = read_state(conn, projection.name)
    if state is not None:
        return state
    # Insert-if-absent: a concurrent runner may create it at the same moment.
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        projection_state
    ).on_conflict_do_nothing(index_elements=["projection"])
    conn.execute(
        stmt,
        {
            "projection": projection.name,
            "version": projection.version,
            "state": ProjectionState.RUNNING,
            "updated_at": now(),
        },
    )
    state = read_state(conn, projection.name)
    assert state is not None
    return state


def set_halted(conn: Connection, projection: str, halt: Halt) -> None:
    s = projection_state.c
    conn.execute(
        update(projection_state)
        .where(s.projection == projection)
        .values(
            state=ProjectionState.HALTED,
            last_error=halt.error,
            failing_event_id=halt.message.event_id,
            failing_partition=halt.message.partition,
            failing_offset=halt.message.offset,
            updated_at=now(),
        )
    )


def set_running(conn: Connection, projection: str, **values: Any) -> None:
    s = projection_state.c
    conn.execute(
        update(projection_state)
        .where(s.projection == projection)
        .values(
            state=ProjectionState.RUNNING,
            last_error=None,
            failing_event_id=None,
            failing_partition=None,
            failing_offset=None,
            updated_at=now(),
            **values,
        )
    )


def set_rebuild_fingerprint(conn: Connection, projection: str, fingerprint: str | None) -> None:
    s = projection_state.c
    conn.execute(
        update(projection_state)
        .where(s.projection == projection)
        .values(rebuild_fingerprint=fingerprint, updated_at=now())
    )
