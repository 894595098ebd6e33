"""The worker processes of a partition-parallel rebuild report failures as one line."""

from __future__ import annotations

import pytest

from adapters.config import Settings
from adapters.parallel_replay import ParallelReplayError, replay_in_processes
from projections.order_summary import OrderSummary


class Unimportable(OrderSummary):
    """A projection a worker process cannot import by its name."""


Unimportable.__module__ = "no_such_package.projections"


def test_a_worker_that_cannot_start_its_share_fails_the_rebuild_with_its_error(tmp_path):
    settings = Settings(read_model_url=f"sqlite:///{tmp_path}/rm.db", kafka_bootstrap="127.0.0.1:9", rebuild_processes=2)
    with pytest.raises(ParallelReplayError, match="rebuild worker: ModuleNotFoundError: No module named 'no_such_package'"):
        replay_in_processes(
            settings, Unimportable, {0: 10, 1: 10}, fresh=True, batch_size=10, flush_every=10, on_progress=lambda d, e: None
        )
