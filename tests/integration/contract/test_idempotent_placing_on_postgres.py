"""tests/local/test_idempotent_placing.py, on a PostgreSQL event store (see conftest.py)."""

from tests.local.test_idempotent_placing import *  # noqa: F401,F403
