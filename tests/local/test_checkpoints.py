"""Checkpoint moves and the dead-letter look-up every batch makes (``adapters.sql.checkpoints``, ``dead_letters``).

A contract on every read-model database: run here on SQLite, and on
PostgreSQL by tests/integration/contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from adapters.config import Settings
from adapters.sql import schema
from adapters.sql.checkpoints import FencedError, move_checkpoints, read_checkpoints
from adapters.sql.engines import create_read_model_engine
from tests.systems import migrate


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[Engine]:
    migrate(backend_settings, [])
    engine = create_read_model_engine(backend_settings.read_model_url, writer=True)
    yield engine
    engine.dispose()


def offsets(engine: Engine, target: str = schema.Target.LIVE) -> dict[int, int]:
    with engine.connect() as conn:
        return read_checkpoints(conn, "p", target)


def test_one_batch_moves_the_checkpoint_of_every_partition_it_read(engine):
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: None, 1: None, 2: None}, {0: 5, 1: 7, 2: 9})
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: 5, 1: 7, 2: 9}, {0: 6, 1: 7, 2: 12})
    assert offsets(engine) == {0: 6, 1: 7, 2: 12}


def test_a_move_of_several_partitions_is_fenced_when_another_writer_moved_one_of_them(engine):
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: None, 1: None, 2: None}, {0: 5, 1: 7, 2: 9})
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {1: 7}, {1: 8})  # the other writer
    with pytest.raises(FencedError, match="partition 1: checkpoint is no longer at 7"), engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: 5, 1: 7, 2: 9}, {0: 6, 1: 10, 2: 11})
    assert offsets(engine) == {0: 5, 1: 8, 2: 9}  # the fenced batch moved none of them


def test_checkpoints_of_other_projections_and_targets_are_not_moved(engine):
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: None}, {0: 5})
        move_checkpoints(conn, "p", schema.Target.REBUILD, {0: None}, {0: 5})
        move_checkpoints(conn, "q", schema.Target.LIVE, {0: None}, {0: 5})
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: 5}, {0: 9})
    assert offsets(engine) == {0: 9}
    assert offsets(engine, schema.Target.REBUILD) == {0: 5}
    with engine.connect() as conn:
        assert read_checkpoints(conn, "q", schema.Target.LIVE) == {0: 5}
