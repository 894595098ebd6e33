"""tests/sqlite/test_concurrency.py, on a PostgreSQL event store (see conftest.py)."""

from tests.sqlite.test_concurrency import *  # noqa: F401,F403
