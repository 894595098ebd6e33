"""Retrying work that failed on the database: one helper for every retry site.

A batch's transaction, a rebuild's flush and a rebuild's read-back are
retried when the database fails them (a lost connection, a lock timeout):
each attempt is a whole transaction, so a retry never applies anything twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_ATTEMPTS = 5
DB_BACKOFF = 0.2  # seconds before the 2nd attempt; then 2x, 3x, ...


def retry_on_database(
    work: Callable[[], T],
    what: str,
    *,
    also: tuple[type[Exception], ...] = (),
    attempts: int | None = None,
    backoff: float = DB_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``work()``, run again after a database failure (``OperationalError``, or one of ``also``).

    Up to ``attempts`` tries (``DB_ATTEMPTS`` by default), waiting
    ``backoff * n`` seconds after the n-th failure; the last failure is raised.
    ``what`` names the work in the warning logged for each retry.
    """
    tries = DB_ATTEMPTS if attempts is None else attempts
    retried: tuple[type[Exception], ...] = (OperationalError, *also)
    for attempt in range(1, tries + 1):
        try:
            return work()
        except retried as e:
            if attempt == tries:
                raise
            log.warning("%s failed on the database (%s); retrying", what, e)
            sleep(backoff * attempt)
    raise AssertionError("unreachable")
