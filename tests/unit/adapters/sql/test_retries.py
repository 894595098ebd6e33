"""Work the database failed is retried, a bounded number of times, with growing pauses (no database)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from adapters.sql.retries import retry_on_database


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then returns ``"done"``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_work_that_fails_on_the_database_is_run_again_until_it_succeeds():
    work = Flaky(failures=2)
    assert retry_on_database(work, "a batch", sleep=lambda _: None) == "done"
    assert work.calls == 3


def test_the_pauses_grow_with_each_attempt():
    pauses: list[float] = []
    retry_on_database(Flaky(failures=3), "a batch", backoff=0.5, sleep=pauses.append)
    assert pauses == [0.5, 1.0, 1.5]


def test_the_last_failure_is_raised_once_the_attempts_are_spent():
    work = Flaky(failures=10)
    with pytest.raises(OperationalError):
        retry_on_database(work, "a batch", attempts=3, sleep=lambda _: None)
    assert work.calls == 3


def test_other_errors_are_not_retried():
    work = Flaky(failures=1, error=ValueError("a bug"))
    with pytest.raises(ValueError):
        retry_on_database(work, "a batch", sleep=lambda _: None)
    assert work.calls == 1


def test_errors_named_as_also_retryable_are_retried():
    work = Flaky(failures=1, error=TimeoutError("rows unavailable"))
    assert retry_on_database(work, "a batch", also=(TimeoutError,), sleep=lambda _: None) == "done"
