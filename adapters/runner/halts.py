"""Halted projections: preparing a projection's state, watching for halts and resumes, the message that explains one.

A ``halt``-policy projection that cannot apply a message stops there and is
marked halted in SQL. Both loops (embedded and Kafka) then re-read its state
every few seconds (:class:`HaltWatch`): a ``retry`` or ``skip`` sets it
running again, and another member of a consumer group may halt it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine

from adapters.config import ConfigurationError
from adapters.sql.rows import live_tables
from adapters.sql.state import StateRow
from adapters.sql.store import ProjectionStore
from projections.contract import Projection

STATE_RECHECK_SECONDS = 2.0


class ProjectionHaltedError(RuntimeError):
    """A ``halt`` projection stopped at a message it could not apply."""


def prepare(engine: Engine, projection: type[Projection]) -> StateRow:
    """The projection's state (created if new); refused if its tables were built by newer code."""
    state = ProjectionStore(engine, live_tables(projection)).ensure_state()
    if state.version > projection.version:
        raise ConfigurationError(
            f"projection {projection.name}'s tables were built by version {state.version}, newer than "
            f"this code's version {projection.version}; run the newer orderstream, or rebuild with this one"
        )
    return state


def halt_message(name: str, state: StateRow) -> str:
    """Where ``name`` is halted, why, and the two commands that resolve it."""
    where = state.failing_at
    return (
        f"projection {name} is halted at {where}: {state.last_error}; fix the cause and run "
        f"`orders projections retry {name}`, or `orders projections skip {name} --event {where}`"
    )


class HaltWatch:
    """Whether one projection is halted, re-read from SQL at most every ``STATE_RECHECK_SECONDS``.

    :meth:`due` is cheap (no I/O); :meth:`check` reads the state (a loop on
    an event loop runs it in a thread).
    """

    def __init__(self, store: ProjectionStore, state: StateRow, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.halted = state.halted
        self._clock = clock
        self._checked = clock()

    def due(self) -> bool:
        """Whether it is time to read the state again (the clock restarts if so)."""
        now = self._clock()
        if now - self._checked < STATE_RECHECK_SECONDS:
            return False
        self._checked = now
        return True

    def check(self) -> StateRow:
        """The state now; :attr:`halted` follows it."""
        state = self.store.read_state()
        self.halted = state.halted
        return state

    def halt(self) -> StateRow:
        """This runner just halted the projection: its state now, for the message (the next check waits a while).

        Halted it stays until a later :meth:`check` says otherwise, even if a
        retry already set it running again: resuming always goes through the
        caller's resume path, which seeks to the offsets in SQL.
        """
        self._checked = self._clock()
        state = self.store.read_state()
        self.halted = True
        return state
