"""tests/local/test_projection_tables_match_migrations.py, on a PostgreSQL read-model database (see conftest.py)."""

from tests.local.test_projection_tables_match_migrations import *  # noqa: F401,F403
