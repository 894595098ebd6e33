"""The ``Orders`` and ``Inventory`` contract tests of tests/local, run on a PostgreSQL event store.

The same test code, not a copy: the modules below import the test functions
from tests/local, and this conftest gives them a fresh PostgreSQL database
per test as their backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adapters.config import Settings
from tests.integration.conftest import PgDatabase
from tests.local.conftest import (  # noqa: F401  (the same fixtures)
    inventory_app,
    open_app,
    open_inventory_app,
    orders_app,
)


@pytest.fixture
def backend_settings(make_pg_database: Callable[[], PgDatabase], tmp_path) -> Iterator[Settings]:
    db = make_pg_database()
    yield Settings(event_store_url=db.url, read_model_url=db.sqlalchemy_url)
