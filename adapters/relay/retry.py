"""How the relay waits before trying again: capped exponential backoff, and the patience of a ``--once`` run.

One :class:`Retrier` serves every place the relay retries Kafka (topic
provisioning, producer start, publishing). It never swallows the failure it is
told about: it either sleeps before the caller's next attempt or raises the
caller's give-up error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff: ``initial * factor**attempt``, at most ``maximum`` seconds."""

    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.factor ** max(0, attempt))


class Retrier:
    """Backoff between failed attempts, and giving up after ``patience`` seconds of failures.

    ``patience`` None retries for ever (the continuous relay); a number is the
    ``--once`` job's limit, counted from the first failure since the last
    :meth:`succeeded`. ``give_up(error)`` builds the exception raised then.
    ``clock`` and ``sleep(stop, seconds)`` are injectable for tests.
    """

    def __init__(
        self,
        backoff: Backoff,
        patience: float | None,
        give_up: Callable[[BaseException], BaseException],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
    ) -> None:
        self._backoff = backoff
        self._patience = patience
        self._give_up = give_up
        self._clock = clock
        self._sleep = sleep or sleep_unless
        self.attempt = 0  # failures since the last success
        self._failing_since: float | None = None

    def start_clock(self) -> None:
        """Count the patience from now, even before the first failure."""
        if self._failing_since is None:
            self._failing_since = self._clock()

    def succeeded(self) -> None:
        """The attempt worked: the next failure starts a new schedule."""
        self.attempt = 0
        self._failing_since = None

    async def failed(
        self, error: BaseException, stop: asyncio.Event, report: Callable[[BaseException, int, float], None]
    ) -> None:
        """After a failed attempt: give up if out of patience, else ``report(error, retry, delay)`` and sleep.

        ``retry`` counts from 1; the sleep ends early when ``stop`` is set.
        """
        self.start_clock()
        assert self._failing_since is not None
        if self._patience is not None and self._clock() - self._failing_since >= self._patience:
            raise self._give_up(error)
        delay = self._backoff.delay(self.attempt)
        self.attempt += 1
        report(error, self.attempt, delay)
        await self._sleep(stop, delay)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def describe(e: BaseException | None) -> str:
    """An error in one line for a log message: its type and the first line of its text."""
    if e is None:
        return "unknown error"
    name = type(e).__name__
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if text.startswith(name):  # aiokafka errors already name themselves
        return text
    return f"{name}: {text}" if text else name
