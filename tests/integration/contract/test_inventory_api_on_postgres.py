"""tests/local/test_inventory_api.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_inventory_api import *  # noqa: F401,F403
