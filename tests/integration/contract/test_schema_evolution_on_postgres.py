"""tests/local/test_schema_evolution.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_schema_evolution import *  # noqa: F401,F403
