"""The engine's guarantees: each event at most once, in order, failures handled by policy."""

from __future__ import annotations

import pytest

from projections.apply import Outcome, RowsUnavailableError, apply_batch
from tests.unit.projections.kit import (
    ORDER_A,
    ORDER_B,
    DeadLetterCounts,
    DictRows,
    EventCounts,
    event,
    messages,
    poison,
)


@pytest.fixture(autouse=True)
def no_failures():
    EventCounts.failures.clear()
    yield
    EventCounts.failures.clear()


def no_sleep(_seconds: float) -> None:
    pass


def test_events_are_applied_and_their_versions_recorded():
    rows = DictRows()
    result = apply_batch(EventCounts(), rows, messages(event(ORDER_A, 1), event(ORDER_A, 2)), sleep=no_sleep)
    assert result.applied == 2
    assert rows.count(EventCounts, ORDER_A) == 2
    assert rows.get(EventCounts.versions, ORDER_A) == {"aggregate_id": ORDER_A, "version": 2}


def test_checkpoint_is_the_offset_after_the_last_message_per_partition():
    batch = messages(event(ORDER_A, 1), partition=0, start=7) + messages(event(ORDER_B, 1), partition=3, start=40)
    result = apply_batch(EventCounts(), DictRows(), batch, sleep=no_sleep)
    assert result.next_offsets == {0: 8, 3: 41}


def test_duplicate_event_is_dropped_and_counted():
    rows = DictRows()
    apply_batch(EventCounts(), rows, messages(event(ORDER_A, 1), event(ORDER_A, 2)), sleep=no_sleep)
    rows.commit()
    result = apply_batch(EventCounts(), rows, messages(event(ORDER_A, 2), start=2), sleep=no_sleep)
    assert (result.applied, result.duplicates) == (0, 1)
    assert rows.count(EventCounts, ORDER_A) == 2
    assert result.next_offsets == {0: 3}


def test_duplicate_within_one_batch_is_dropped():
    result = apply_batch(
        EventCounts(), rows := DictRows(), messages(event(ORDER_A, 1), event(ORDER_A, 1)), sleep=no_sleep
    )
    assert (result.applied, result.duplicates) == (1, 1)
    assert rows.count(EventCounts, ORDER_A) == 1


def test_version_gap_halts_naming_order_expected_and_got():
    result = apply_batch(EventCounts(), DictRows(), messages(event(ORDER_A, 1), event(ORDER_A, 3)), sleep=no_sleep)
    assert result.halt is not None
    assert result.halt.error == f"version gap for order {ORDER_A}: expected version 2, got 3"


def test_first_event_of_an_order_must_be_version_one():
    result = apply_batch(EventCounts(), DictRows(), messages(event(ORDER_A, 2)), sleep=no_sleep)
    assert result.halt is not None and "expected version 1, got 2" in result.halt.error


def test_halt_stops_at_the_failing_event_keeping_the_ones_before():
    EventCounts.failures[event(ORDER_B, 1).event_id] = 99
    rows = DictRows()
    batch = messages(event(ORDER_A, 1), event(ORDER_B, 1), event(ORDER_A, 2))
    result = apply_batch(EventCounts(), rows, batch, sleep=no_sleep)
    assert result.halt is not None and result.halt.message is batch[1]
    assert "RuntimeError: handler bug" in result.halt.error
    assert result.next_offsets == {0: 1}
    assert (rows.count(EventCounts, ORDER_A), rows.count(EventCounts, ORDER_B)) == (1, None)


def test_failing_handler_is_retried_with_backoff_before_the_policy():
    EventCounts.failures[event(ORDER_A, 1).event_id] = 99
    sleeps: list[float] = []
    result = apply_batch(
        EventCounts(), DictRows(), messages(event(ORDER_A, 1)), attempts=3, backoff=0.01, sleep=sleeps.append
    )
    assert sleeps == [0.01, 0.02]
    assert result.halt is not None and "after 3 attempts" in result.halt.error


def test_handler_that_succeeds_on_a_retry_is_applied_exactly_once():
    EventCounts.failures[event(ORDER_A, 1).event_id] = 1
    rows = DictRows()
    result = apply_batch(EventCounts(), rows, messages(event(ORDER_A, 1)), sleep=no_sleep)
    assert result.applied == 1 and result.halt is None
    assert rows.count(EventCounts, ORDER_A) == 1


def test_failed_attempts_leave_no_partial_writes():
    EventCounts.failures[event(ORDER_A, 2).event_id] = 99
    rows = DictRows()
    apply_batch(EventCounts(), rows, messages(event(ORDER_A, 1), event(ORDER_A, 2)), sleep=no_sleep)
    assert rows.count(EventCounts, ORDER_A) == 1
    assert rows.get(EventCounts.versions, ORDER_A)["version"] == 1


def test_dead_letter_parks_later_events_of_the_same_order_only():
    EventCounts.failures[event(ORDER_A, 2).event_id] = 99
    rows = DictRows()
    batch = messages(event(ORDER_A, 1), event(ORDER_A, 2), event(ORDER_B, 1), event(ORDER_A, 3), event(ORDER_B, 2))
    result = apply_batch(DeadLetterCounts(), rows, batch, sleep=no_sleep)
    assert result.outcomes == [
        Outcome.APPLIED, Outcome.DEAD, Outcome.APPLIED, Outcome.PARKED, Outcome.APPLIED,
    ]
    assert [(d.message.offset, d.status) for d in result.dead_letters] == [(1, "dead"), (3, "parked")]
    assert (rows.count(DeadLetterCounts, ORDER_A), rows.count(DeadLetterCounts, ORDER_B)) == (1, 2)
    assert result.next_offsets == {0: 5}
    assert result.blocked == {ORDER_A: 3}


def test_an_order_blocked_by_an_earlier_batch_stays_parked():
    result = apply_batch(
        DeadLetterCounts(), DictRows(), messages(event(ORDER_A, 1)), blocked={ORDER_A: 0}, sleep=no_sleep
    )
    assert result.outcomes == [Outcome.PARKED]


def test_a_redelivered_parked_event_is_a_duplicate_not_parked_twice():
    result = apply_batch(
        DeadLetterCounts(), DictRows(), messages(event(ORDER_A, 3)), blocked={ORDER_A: 4}, sleep=no_sleep
    )
    assert result.outcomes == [Outcome.DUPLICATE]
    assert result.dead_letters == []


def test_poison_message_halts_a_halt_projection():
    result = apply_batch(EventCounts(), DictRows(), [poison(0, key=ORDER_A)], sleep=no_sleep)
    assert result.halt is not None and result.halt.error == "message value is not JSON"
    assert result.next_offsets == {}


def test_poison_message_dead_letter_blocks_the_order_it_was_keyed_by():
    batch = [poison(0, key=ORDER_A), *messages(event(ORDER_A, 1), event(ORDER_B, 1), start=1)]
    result = apply_batch(DeadLetterCounts(), DictRows(), batch, sleep=no_sleep)
    assert result.outcomes == [Outcome.DEAD, Outcome.PARKED, Outcome.APPLIED]


def test_poison_message_without_an_order_blocks_nothing():
    batch = [poison(0, key=None), *messages(event(ORDER_A, 1), start=1)]
    result = apply_batch(DeadLetterCounts(), DictRows(), batch, sleep=no_sleep)
    assert result.outcomes == [Outcome.DEAD, Outcome.APPLIED]
    assert result.blocked == {}


def test_a_storage_failure_is_raised_not_handled_as_a_handler_failure():
    class BrokenRows(DictRows):
        def load(self, table, key):
            raise ConnectionError("server closed the connection")

    with pytest.raises(RowsUnavailableError):
        apply_batch(DeadLetterCounts(), BrokenRows(), messages(event(ORDER_A, 1)), sleep=no_sleep)
