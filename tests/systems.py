"""The composition root for tests: one ``System`` per settings (and domain API) within a test, closed after it.

A test that runs projections, rebuilds or migrates calls ``system_for(settings,
orders)`` wherever the code needs a ``System``; the same arguments give the
same System for the rest of the test (like one long-lived process), and
``tests/conftest.py`` closes them all when the test ends.
"""

from __future__ import annotations

from adapters.bootstrap import System
from adapters.config import Settings
from adapters.sql.migrations import upgrade
from domain.application import Orders
from projections.contract import Projection

_open: dict[tuple[Settings, int], System] = {}


def system_for(settings: Settings, orders: Orders | None = None) -> System:
    """The test's System for ``settings``, on ``orders`` if given (its owner closes it)."""
    key = (settings, id(orders))
    system = _open.get(key)
    if system is None:
        system = _open[key] = System(settings, orders)
    return system


def migrate(settings: Settings, projections: list[type[Projection]] | tuple[type[Projection], ...] = ()) -> list[str]:
    """``orders db upgrade`` on the read-model database of ``settings`` (with ``projections``' revisions too)."""
    return upgrade(system_for(settings).read_models, settings, list(projections))


def close_all() -> None:
    while _open:
        _, system = _open.popitem()
        system.close()
