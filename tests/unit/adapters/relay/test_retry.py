"""The retry schedule while Kafka is unusable, and when a ``--once`` run gives up (a fake clock, no sleeping)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from adapters.relay.retry import Backoff, Retrier, describe, sleep_unless


class GaveUpError(RuntimeError):
    pass


class FakeTime:
    """A clock that only moves when the retrier sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, stop: asyncio.Event, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def retrier(time: FakeTime, patience: float | None = None, backoff: Backoff | None = None) -> Retrier:
    return Retrier(
        backoff or Backoff(initial=0.1, maximum=10, factor=2),
        patience,
        lambda error: GaveUpError(f"gave up after {describe(error)}"),
        clock=time.clock,
        sleep=time.sleep,
    )


def fail(r: Retrier, times: int, reports: list | None = None) -> None:
    sink = reports if reports is not None else []

    async def go() -> None:
        for i in range(times):
            await r.failed(OSError(f"failure {i}"), asyncio.Event(), lambda *report: sink.append(report))

    asyncio.run(go())


def test_backoff_doubles_from_its_initial_delay():
    backoff = Backoff(initial=0.1, maximum=10, factor=2)
    assert [backoff.delay(n) for n in range(4)] == [0.1, 0.2, 0.4, 0.8]


def test_backoff_is_capped():
    assert Backoff(initial=0.2, maximum=5).delay(50) == 5


def test_the_retrier_sleeps_the_backoff_schedule_between_failures():
    time = FakeTime()
    fail(retrier(time, backoff=Backoff(initial=0.1, maximum=0.5)), 5)
    assert time.sleeps == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_each_retry_is_reported_with_its_error_number_and_delay_before_the_sleep():
    time = FakeTime()
    reports: list = []
    fail(retrier(time), 2, reports)
    assert [(str(error), retry, delay) for error, retry, delay in reports] == [
        ("failure 0", 1, 0.1),
        ("failure 1", 2, 0.2),
    ]


def test_without_patience_the_retrier_never_gives_up():
    time = FakeTime()
    fail(retrier(time, patience=None, backoff=Backoff(initial=1000, maximum=1000)), 50)
    assert len(time.sleeps) == 50


def test_the_retrier_gives_up_once_failures_have_lasted_its_patience():
    time = FakeTime()
    r = retrier(time, patience=1.0, backoff=Backoff(initial=0.3, maximum=0.3))
    with pytest.raises(GaveUpError, match="gave up after OSError: failure 4"):
        fail(r, 10)
    assert time.sleeps == [0.3, 0.3, 0.3, 0.3]  # 1.2 s of failures when the fifth came


def test_patience_counts_from_the_first_failure():
    time = FakeTime()
    r = retrier(time, patience=1.0, backoff=Backoff(initial=0.3, maximum=0.3))
    time.now += 3600  # a long healthy run before the first failure
    fail(r, 4)
    assert len(time.sleeps) == 4


def test_patience_counts_from_start_clock_when_the_clock_was_started_before_the_first_attempt():
    time = FakeTime()
    r = retrier(time, patience=1.0)
    r.start_clock()
    time.now += 1.0  # the first attempt took that long to fail
    with pytest.raises(GaveUpError):
        fail(r, 1)


def test_a_success_restarts_the_backoff_schedule_and_the_patience():
    time = FakeTime()
    r = retrier(time, patience=1.0, backoff=Backoff(initial=0.3, maximum=0.3))
    fail(r, 3)
    r.succeeded()
    fail(r, 4)
    assert (len(time.sleeps), r.attempt) == (7, 4)


def test_sleep_unless_returns_at_once_when_stopped():
    async def go() -> None:
        stop = asyncio.Event()
        stop.set()
        await asyncio.wait_for(sleep_unless(stop, 3600), timeout=1)

    asyncio.run(go())


def test_an_error_is_described_by_its_type_and_first_line():
    assert describe(OSError("refused\nmore")) == "OSError: refused"


def test_an_aiokafka_error_that_names_itself_is_not_named_twice():
    assert describe(KafkaConnectionError("no broker")) == "KafkaConnectionError: no broker"
