"""When the runner copies its committed offsets to Kafka (``OffsetCopySchedule``: a schedule, no I/O)."""

from __future__ import annotations

from adapters.runner.kafka import OffsetCopySchedule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def copies() -> tuple[OffsetCopySchedule, Clock]:
    clock = Clock()
    return OffsetCopySchedule(1.0, clock), clock


def test_the_first_committed_offsets_are_due_at_once():
    schedule, _ = copies()
    schedule.committed({0: 5})
    assert schedule.due() == {0: 5}


def test_offsets_committed_soon_after_a_copy_wait_until_the_interval_has_passed():
    schedule, clock = copies()
    schedule.committed({0: 5})
    schedule.due()
    schedule.committed({0: 6})
    clock.now += 0.9
    waited = schedule.due()
    clock.now += 0.1
    assert (waited, schedule.due()) == ({}, {0: 6})


def test_a_copy_asked_for_now_takes_every_waiting_offset_at_once():
    schedule, _ = copies()
    schedule.committed({0: 5})
    schedule.due()
    schedule.committed({1: 3})
    assert schedule.due(now=True) == {1: 3}


def test_only_the_newest_offset_of_each_partition_is_copied():
    schedule, _ = copies()
    schedule.committed({0: 5, 1: 2})
    schedule.committed({0: 7})
    assert schedule.due() == {0: 7, 1: 2}


def test_nothing_is_due_when_nothing_was_committed_since_the_last_copy():
    schedule, clock = copies()
    schedule.committed({0: 5})
    schedule.due()
    clock.now += 5
    assert schedule.due() == {}


def test_the_offsets_of_a_failed_copy_wait_again_unless_newer_ones_came():
    schedule, clock = copies()
    schedule.committed({0: 5, 1: 2})
    failed = schedule.due()
    schedule.committed({0: 9})
    schedule.failed(failed)
    clock.now += 1
    assert schedule.due() == {0: 9, 1: 2}
