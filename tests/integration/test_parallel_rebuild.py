"""A Kafka rebuild of a projection keyed by order id, split over processes by partition."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import runner
from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.runner import parallel
from adapters.runner.parallel import replay_in_processes
from adapters.runner.worker_processes import ParallelReplayError
from domain.records import record_of
from projections.customer_orders import CustomerOrders
from projections.order_summary import OrderSummary
from tests.integration.test_projection_runner_kafka import publish, publish_events
from tests.local.read_model_rows import snapshot
from tests.systems import migrate, system_for


@pytest.fixture
def history(tmp_path: Path):
    orders = open_orders(Settings(event_store_url=f"sqlite:///{tmp_path}/events.db"))
    simulate_day(orders, 40, n_customers=10, seed=11)
    notes = orders.recorder.select_notifications(start=0, limit=100_000)
    yield [(record_of(orders.mapper.to_domain_event(n)), n.id) for n in notes]
    orders.close()


@pytest.fixture
def settings(kafka_bootstrap, kafka_topic, make_pg_database, tmp_path) -> Settings:
    s = Settings(
        event_store_url=f"sqlite:///{tmp_path}/unused.db",
        read_model_url=make_pg_database().url,
        kafka_bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        rebuild_processes=2,
    )
    migrate(s, [OrderSummary, CustomerOrders])
    return s


def test_an_order_keyed_projection_is_rebuilt_by_two_processes_into_the_incremental_tables(settings, history):
    publish_events(settings, history)
    runner.run_until_caught_up(system_for(settings), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    stats = runner.rebuild(system_for(settings), OrderSummary)
    assert (stats.processes, stats.events) == (2, len(history))
    assert snapshot(settings, OrderSummary) == incremental


def test_a_projection_with_rows_shared_across_orders_is_rebuilt_by_one_process(settings, history):
    publish_events(settings, history)
    runner.run_until_caught_up(system_for(settings), [CustomerOrders])
    incremental = snapshot(settings, CustomerOrders)
    stats = runner.rebuild(system_for(settings), CustomerOrders)
    assert stats.processes == 1
    assert snapshot(settings, CustomerOrders) == incremental


def test_a_poison_message_halts_the_split_rebuild_and_the_live_tables_keep_serving(settings, history):
    assert parallel.splittable(settings, OrderSummary, 6)
    publish_events(settings, history)
    runner.run_until_caught_up(system_for(settings), [OrderSummary])
    before = snapshot(settings, OrderSummary)
    publish(settings, [(history[0][0].aggregate_id.encode(), b"\x00not json")])
    with pytest.raises(runner.ProjectionHaltedError, match="not JSON.*the live tables are unchanged"):
        runner.rebuild(system_for(settings), OrderSummary)
    assert snapshot(settings, OrderSummary) == before


def test_one_process_per_partition_at_most(settings, history, make_topic):
    single = dataclasses.replace(settings, topic=make_topic(partitions=1))
    publish_events(single, history)
    stats = runner.rebuild(system_for(single), OrderSummary)
    assert (stats.processes, stats.events) == (1, len(history))


class Unimportable(OrderSummary):
    """A projection a worker process cannot import by its name."""


Unimportable.__module__ = "no_such_package.projections"


def test_a_worker_process_that_fails_fails_the_rebuild_with_its_error_in_one_line(settings, history):
    publish_events(settings, history)
    error = "rebuild worker: ModuleNotFoundError: No module named 'no_such_package'"
    with pytest.raises(ParallelReplayError, match=error):
        replay_in_processes(
            system_for(settings), Unimportable, {0: 0, 1: 10}, created_empty=True, batch_size=10, flush_every=10,
            on_progress=lambda done, events: None,
        )


class DiesInAWorkerProcess(OrderSummary):
    """order_summary, except that a rebuild worker process dies at its first placed order."""

    def placed(self, rows, event):
        main = sys.modules["__main__"]
        if getattr(main, "__spec__", None) is not None and main.__spec__.name == "adapters.runner.rebuild_worker":
            os._exit(3)
        super().placed(rows, event)


def test_a_worker_process_that_dies_fails_the_rebuild_and_the_next_rebuild_completes_it(settings, history):
    publish_events(settings, history)
    runner.run_until_caught_up(system_for(settings), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    with pytest.raises(ParallelReplayError, match=r"rebuild worker 1 ended \(exit code 3\)"):
        runner.rebuild(system_for(settings), DiesInAWorkerProcess)
    assert subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True).stdout == b""
    assert snapshot(settings, OrderSummary) == incremental  # the live tables kept serving
    runner.rebuild(system_for(settings), OrderSummary)
    assert snapshot(settings, OrderSummary) == incremental
