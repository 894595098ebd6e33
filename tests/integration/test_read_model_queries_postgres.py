"""The read-model query tests of tests/local, run again on PostgreSQL.

Money sums, text timestamps and JSON-text lines must read back the same on
both databases; the tests are imported unchanged, only ``conn`` differs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from adapters.sql.engines import create_read_model_engine
from projections import BUILT_IN
from tests.local.test_read_model_queries import *  # noqa: F401,F403  (the tests themselves)


@pytest.fixture
def conn(pg_database) -> Iterator[Connection]:
    engine = create_read_model_engine(pg_database.url)
    for projection in BUILT_IN:
        projection.metadata.create_all(engine)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        for projection in BUILT_IN:
            projection.metadata.drop_all(engine)
        engine.dispose()
