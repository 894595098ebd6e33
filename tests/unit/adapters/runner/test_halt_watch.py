"""A halted projection's state is re-read now and then, not every loop (no database)."""

from __future__ import annotations

from dataclasses import replace

from adapters.runner.halts import STATE_RECHECK_SECONDS, HaltWatch
from adapters.sql.state import StateRow
from adapters.sql.store import ProjectionStore

RUNNING = StateRow("p", 1, "running", None, None, None, None, None)
HALTED = replace(RUNNING, state="halted", last_error="boom", failing_partition=0, failing_offset=7)


class StateInSql(ProjectionStore):
    """A ProjectionStore whose state row is held here, as another process may set it (no database)."""

    def __init__(self, state: StateRow) -> None:
        self.state = state

    def read_state(self) -> StateRow:
        return self.state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watch(state: StateRow, store: StateInSql, clock: Clock) -> HaltWatch:
    return HaltWatch(store, state, clock)


def test_it_starts_halted_when_the_projection_is():
    assert watch(HALTED, StateInSql(HALTED), Clock()).halted


def test_a_recheck_is_not_due_before_the_interval_has_passed():
    clock = Clock()
    w = watch(HALTED, StateInSql(HALTED), clock)
    clock.now += STATE_RECHECK_SECONDS - 0.1
    assert not w.due()


def test_a_recheck_is_due_once_the_interval_has_passed_and_then_waits_again():
    clock = Clock()
    w = watch(HALTED, StateInSql(HALTED), clock)
    clock.now += STATE_RECHECK_SECONDS
    assert w.due() and not w.due()


def test_a_check_sees_that_a_retry_set_it_running():
    store = StateInSql(HALTED)
    w = watch(HALTED, store, Clock())
    store.state = RUNNING
    assert not w.check().halted and not w.halted


def test_a_check_sees_that_another_runner_halted_it():
    store = StateInSql(RUNNING)
    w = watch(RUNNING, store, Clock())
    store.state = HALTED
    assert w.check().halted and w.halted


def test_halting_it_here_restarts_the_interval():
    clock = Clock()
    store = StateInSql(RUNNING)
    w = watch(RUNNING, store, clock)
    clock.now += STATE_RECHECK_SECONDS
    store.state = HALTED
    w.halt()
    assert w.halted and not w.due()


def test_halting_it_here_keeps_it_halted_even_if_a_retry_already_set_it_running():
    # The loop must resume through its resume path (which seeks to the offsets in SQL), never in passing.
    store = StateInSql(RUNNING)
    w = watch(RUNNING, store, Clock())
    w.halt()
    assert w.halted
