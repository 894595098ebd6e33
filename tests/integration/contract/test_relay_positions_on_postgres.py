"""tests.local.test_relay_positions.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_relay_positions import *  # noqa: F401,F403
