"""Logging for the long-running commands: one format, on stderr, configured once per process.

Code everywhere logs to its module's logger (``logging.getLogger(__name__)``)
and never configures logging; the commands that run for a while (``relay
run``, ``projections ...``) call :func:`configure_logging` once.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now (not the one at creation: a captured stderr, in tests)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(verbose: bool = False) -> None:
    """orderstream's own log at INFO, everything else's warnings, on stderr; the Kafka client's only with ``verbose``.

    aiokafka logs every reconnect attempt (with a traceback) while a broker
    is down; the relay and the runner log one line per retry themselves.
    Calling it again only changes the verbosity.
    """
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    logging.getLogger("adapters").setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.INFO if verbose else logging.CRITICAL)
