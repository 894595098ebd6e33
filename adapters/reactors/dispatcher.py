"""The dispatcher: delivers the effects outbox, with retries, each effect once in effect.

A dispatcher claims due effects for a lease (several dispatchers never
deliver one effect at the same time; one order's effects go in the order
they were recorded), delivers each through a :class:`Deliverer`, and marks
it: dispatched (with what came of it), due again after a backoff (a
failure that may pass: a server down, a lock timeout), or failed (one that
will not: a broken domain rule, a refused address; or too many attempts).

A crash between delivering an effect and marking it leaves it claimed until
its lease runs out; it is then delivered again. That is the one duplicate a
receiver may see, and why every delivery carries the effect's key (an
email's Message-ID, a payment's idempotency key, a command's payload).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from adapters.sql.effects import (
    ClaimedEffect,
    claim_due,
    count_pending,
    mark_dispatched,
    mark_due_again,
    mark_failed,
)
from adapters.sql.state import now
from reactors.contract import Effect, effect_from_json

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """An effect could not be delivered; ``retryable`` says whether a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


Deliverer = Callable[[str, Effect], str]  # (key, effect) -> what came of it; raises DeliveryError


@dataclass(frozen=True)
class DispatchPolicy:
    batch: int = 20  # effects claimed at a time
    lease: timedelta = timedelta(seconds=30)  # how long a claim keeps other dispatchers away
    first_retry: float = 0.5  # seconds before the 2nd attempt; doubles each time
    max_retry: float = 30.0
    max_attempts: int = 50  # then the effect is failed (an operator's to look at)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_retry, self.first_retry * 2 ** max(0, attempts - 1)))


@dataclass
class DispatchStats:
    dispatched: int = 0
    retried: int = 0
    failed: int = 0


class Dispatcher:
    """Delivers the due effects of ``reactors`` (all, if None) through ``deliver``."""

    def __init__(
        self,
        engine: Engine,
        deliver: Deliverer,
        *,
        reactors: Sequence[str] | None = None,
        policy: DispatchPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.deliver = deliver
        self.reactors = None if reactors is None else list(reactors)
        self.policy = policy or DispatchPolicy()
        self.stats = DispatchStats()

    def dispatch_due(self) -> int:
        """Claim and deliver what is due now; how many effects were handled (0: nothing due)."""
        with self.engine.begin() as conn:
            claimed = claim_due(conn, self.policy.batch, self.policy.lease, self.reactors)
        for effect in claimed:
            self._dispatch(effect)
        return len(claimed)

    def run(self, stop: threading.Event, idle_wait: float = 0.1) -> None:
        """Deliver until ``stop`` is set; a database failure is logged and tried again."""
        while not stop.is_set():
            try:
                handled = self.dispatch_due()
            except OperationalError as e:
                log.warning("dispatching effects failed on the database (%s); trying again", e)
                handled = 0
                stop.wait(1.0)
            if not handled:
                stop.wait(idle_wait)

    def drain(self, patience: float, stop: threading.Event | None = None) -> int:
        """Deliver until nothing is due; wait up to ``patience`` seconds for effects due later. Pending left."""
        deadline = time.monotonic() + patience
        while stop is None or not stop.is_set():
            if self.dispatch_due():
                continue
            left = self.pending()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)
        return self.pending()

    def pending(self) -> int:
        """How many effects are still to be delivered."""
        with self.engine.connect() as conn:
            try:
                return count_pending(conn, self.reactors)
            finally:
                conn.rollback()

    def _dispatch(self, claimed: ClaimedEffect) -> None:
        try:
            effect = effect_from_json(claimed.kind, claimed.payload)
            outcome = self.deliver(claimed.key, effect)
        except DeliveryError as e:
            self._failed(claimed, str(e), e.retryable)
            return
        except ValueError as e:  # an effect this code cannot read
            self._failed(claimed, f"{type(e).__name__}: {e}", retryable=False)
            return
        with self.engine.begin() as conn:
            mark_dispatched(conn, claimed.id, outcome)
        self.stats.dispatched += 1

    def _failed(self, claimed: ClaimedEffect, error: str, retryable: bool) -> None:
        attempts = claimed.attempts + 1
        with self.engine.begin() as conn:
            if retryable and attempts < self.policy.max_attempts:
                mark_due_again(conn, claimed.id, error, now() + self.policy.backoff(attempts))
                self.stats.retried += 1
                log.warning("effect %s not delivered (attempt %d): %s; retrying later", claimed.key, attempts, error)
                return
            mark_failed(conn, claimed.id, error)
        self.stats.failed += 1
        log.error("effect %s failed: %s", claimed.key, error)
