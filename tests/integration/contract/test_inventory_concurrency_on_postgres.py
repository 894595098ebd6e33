"""tests/local/test_inventory_concurrency.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_inventory_concurrency import *  # noqa: F401,F403
