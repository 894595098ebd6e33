"""Backends for the contract tests of the ``Orders`` and ``Inventory`` domain APIs.

The tests in this directory take ``orders_app``, ``inventory_app`` (or ``backend_settings``) and
never name a database, so they are a contract every event store must meet.
They run here on a fresh SQLite file per test. To run them on another
backend, add an entry to ``BACKENDS``: a context manager that yields
``Settings`` for a fresh, empty store and cleans it up afterwards (e.g. a
PostgreSQL database created and dropped per test, marked ``integration``).
Alternatively, a directory of its own can override the ``backend_settings``
fixture in its conftest and import the test modules from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from adapters.config import Settings
from adapters.eventstore.wiring import eventsourcing_env
from domain.application import Orders
from domain.inventory import Inventory


@contextmanager
def sqlite_backend(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        event_store_url=f"sqlite:///{tmp_path}/events.db",
        read_model_url=f"sqlite:///{tmp_path}/read_models.db",
    )


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Settings]]] = {
    "sqlite": sqlite_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with BACKENDS[request.param](tmp_path) as settings:
        yield settings


@pytest.fixture
def open_app(backend_settings: Settings) -> Iterator[Callable[..., Orders]]:
    """Open ``Orders`` (or a subclass) on the test's store; all are closed afterwards."""
    opened: list[Orders] = []

    def open_(cls: type[Orders] = Orders) -> Orders:
        # What adapters.eventstore.wiring.open_orders does, for subclasses too.
        app = cls(env=eventsourcing_env(backend_settings))
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


@pytest.fixture
def orders_app(open_app: Callable[..., Orders]) -> Orders:
    return open_app()


@pytest.fixture
def open_inventory_app(backend_settings: Settings) -> Iterator[Callable[..., Inventory]]:
    """Open ``Inventory`` (or a subclass) on the test's store; all are closed afterwards."""
    opened: list[Inventory] = []

    def open_(cls: type[Inventory] = Inventory) -> Inventory:
        # What adapters.eventstore.wiring.open_inventory does, for subclasses too.
        app = cls(env=eventsourcing_env(backend_settings, Inventory.name))
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


@pytest.fixture
def inventory_app(open_inventory_app: Callable[..., Inventory]) -> Inventory:
    return open_inventory_app()


@pytest.fixture
def no_orders_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own ORDERS_* (and POSTGRES_*) variables must not change what a test sees."""
    for key in list(os.environ):
        if key.startswith("ORDERS_") or key.startswith("POSTGRES_"):
            monkeypatch.delenv(key)
