"""tests/local/test_inventory_crashes.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_inventory_crashes import *  # noqa: F401,F403
