"""tests/local/test_stored_log.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_stored_log import *  # noqa: F401,F403
