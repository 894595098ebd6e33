"""The bounded optimistic retry every command of a domain API runs in.

Appends are atomic and optimistic: a save whose aggregate version another
writer already used raises ``IntegrityError`` and records nothing. The
command is then run again on freshly loaded state, which is safe because
every command re-checks its rules on the state it is given, and backs off
with jitter so that racing writers stop colliding. After the last attempt a
:class:`~domain.errors.ConcurrencyError` is raised.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.errors import ConcurrencyError


def save_with_retries(
    app: Application[Any],
    attempt: Callable[[], Aggregate | None],
    *,
    max_attempts: int,
    what: str,
) -> bool:
    """Run ``attempt`` (load, one aggregate call) and save what it returns, retrying lost races.

    ``attempt`` returns the aggregate to save, or None when there is nothing
    to save; an error it raises propagates at once (a broken rule is not
    retried). Returns whether events were recorded; ``what`` names the
    aggregate in the :class:`ConcurrencyError` ("order 3f2b...").
    """
    for number in range(1, max_attempts + 1):
        aggregate = attempt()
        if aggregate is None or not aggregate.pending_events:
            return False
        try:
            app.save(aggregate)
            return True
        except IntegrityError:
            if number == max_attempts:
                break
            time.sleep(random.uniform(0, 0.002 * 2**number))
    raise ConcurrencyError(
        f"{what} kept changing under concurrent writers; gave up after {max_attempts} attempts, try again"
    )
