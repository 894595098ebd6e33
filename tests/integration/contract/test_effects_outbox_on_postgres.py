"""tests/local/test_effects_outbox.py, on a PostgreSQL read-model database (see conftest.py)."""

from tests.local.test_effects_outbox import *  # noqa: F401,F403
