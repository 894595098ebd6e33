"""tests/local/test_checkpoints.py, on a PostgreSQL read-model database (see conftest.py)."""

from tests.local.test_checkpoints import *  # noqa: F401,F403
