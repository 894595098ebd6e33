"""tests/local/test_open_batch.py, on a PostgreSQL read-model database (see conftest.py)."""

from tests.local.test_open_batch import *  # noqa: F401,F403
