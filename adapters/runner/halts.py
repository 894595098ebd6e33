"""Halted projections: the message that says how to resolve one, and its state."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from adapters.sql.bookkeeping import StateRow, read_state

log = logging.getLogger(__name__)


STATE_RECHECK_SECONDS = 2.0


class ProjectionHaltedError(RuntimeError):
    """A ``halt`` projection stopped at a message it could not apply."""


def halt_message(name: str, state: StateRow) -> str:
    where = state.failing_event_id or f"{state.failing_partition}:{state.failing_offset}"
    return (
        f"projection {name} is halted at {where}: {state.last_error}; fix the cause and run "
        f"`orders projections retry {name}`, or `orders projections skip {name} --event {where}`"
    )


def state_of(engine: Engine, name: str) -> StateRow:
    with engine.connect() as conn:
        state = read_state(conn, name)
        conn.rollback()
    assert state is not None
    return state
