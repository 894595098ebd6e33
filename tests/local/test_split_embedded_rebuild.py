"""A rebuild from the embedded log of a projection keyed by order id, split over processes by order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from adapters import runner
from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.runner import parallel, rebuilding
from adapters.sql import schema
from adapters.sql.checkpoints import read_checkpoints, replace_checkpoints
from adapters.sql.engines import create_read_model_engine
from adapters.sql.shadow import create_shadow, drop_shadow, shadow_tables
from adapters.sql.state import set_rebuild_fingerprint
from domain.application import Orders
from projections.customer_orders import CustomerOrders
from projections.order_summary import OrderSummary
from tests.local.read_model_rows import snapshot
from tests.systems import migrate, system_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(
        event_store_url=f"sqlite:///{tmp_path}/events.db",
        read_model_url=f"sqlite:///{tmp_path}/read_models.db",
        rebuild_processes=2,
    )
    migrate(s, [OrderSummary, CustomerOrders])
    return s


@pytest.fixture
def orders(settings: Settings) -> Iterator[Orders]:
    app = open_orders(settings)
    simulate_day(app, 40, n_customers=10, seed=11)
    yield app
    app.close()


def live_offsets(settings: Settings, projection) -> dict[int, int]:
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        offsets = read_checkpoints(conn, projection.name, schema.Target.LIVE)
    engine.dispose()
    return offsets


def events_in(orders: Orders) -> int:
    return len(orders.recorder.select_notifications(start=0, limit=1_000_000))


class Crash(Exception):
    pass


def test_an_order_keyed_projection_is_rebuilt_by_two_processes_into_the_incremental_tables(settings, orders):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    stats = runner.rebuild(system_for(settings, orders), OrderSummary)
    assert (stats.processes, stats.events) == (2, events_in(orders))
    assert snapshot(settings, OrderSummary) == incremental


def test_the_last_progress_of_a_split_rebuild_shows_every_event_of_the_log_done(settings, orders):
    reports: list[runner.Progress] = []
    stats = runner.rebuild(system_for(settings, orders), OrderSummary, progress=reports.append)
    last = reports[-1]
    assert (last.done, last.total, last.events) == (orders_end(orders)[0], orders_end(orders)[0], stats.events)


def test_after_a_split_rebuild_live_processing_goes_on_from_the_logs_end_with_no_gap_or_double_count(
    settings, orders
):
    runner.rebuild(system_for(settings, orders), OrderSummary)
    assert live_offsets(settings, OrderSummary) == orders_end(orders)
    before = events_in(orders)
    simulate_day(orders, 5, n_customers=3, seed=12)
    stats = runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    assert stats.applied == events_in(orders) - before
    rebuilt_then_live = snapshot(settings, OrderSummary)
    runner.rebuild(system_for(settings, orders), OrderSummary)
    assert snapshot(settings, OrderSummary) == rebuilt_then_live


def orders_end(orders: Orders) -> dict[int, int]:
    return {0: orders.recorder.max_notification_id() + 1}


def test_a_projection_with_rows_shared_across_orders_is_rebuilt_by_one_process(settings, orders):
    runner.run_until_caught_up(system_for(settings, orders), [CustomerOrders])
    incremental = snapshot(settings, CustomerOrders)
    stats = runner.rebuild(system_for(settings, orders), CustomerOrders)
    assert stats.processes == 1
    assert snapshot(settings, CustomerOrders) == incremental


def test_an_interrupted_split_rebuild_resumes_from_the_shares_checkpoints(settings, orders):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    reports = []

    def crash(p: runner.Progress) -> None:
        reports.append(p)
        if len(reports) == 4:
            raise Crash

    # Batches of 10, each process commits every 10 messages (its half of 20).
    with pytest.raises(Crash):
        runner.rebuild(system_for(settings, orders), OrderSummary, batch_size=10, flush_every=20, progress=crash)
    assert snapshot(settings, OrderSummary) == incremental  # the live tables served throughout
    stats = runner.rebuild(system_for(settings, orders), OrderSummary, batch_size=10)
    assert 0 < stats.events < events_in(orders)
    assert snapshot(settings, OrderSummary) == incremental
    assert live_offsets(settings, OrderSummary) == orders_end(orders)


def test_an_interrupted_split_rebuild_resumed_with_another_number_of_processes_starts_over(settings, orders):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)

    def crash(p: runner.Progress) -> None:
        if p.events:
            raise Crash

    with pytest.raises(Crash):
        runner.rebuild(system_for(settings, orders), OrderSummary, batch_size=10, flush_every=20, progress=crash)
    three = dataclasses.replace(settings, rebuild_processes=3)
    stats = runner.rebuild(system_for(three, orders), OrderSummary)
    assert (stats.processes, stats.events) == (3, events_in(orders))
    assert snapshot(settings, OrderSummary) == incremental


def test_a_split_rebuild_whose_shadow_tables_another_rebuild_replaced_is_fenced_at_the_swap(
    settings, orders, monkeypatch
):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    replay = rebuilding._replay_in_processes

    def then_another_rebuild_starts(job, *args):
        result = replay(job, *args)
        # Another rebuild (another number of processes) begins: its first transaction.
        tables = shadow_tables(OrderSummary, postgres=False)
        with job.store.engine.begin() as conn:
            drop_shadow(conn, tables)
            create_shadow(conn, tables)
            set_rebuild_fingerprint(conn, OrderSummary.name, "another rebuild")
        return result

    monkeypatch.setattr(rebuilding, "_replay_in_processes", then_another_rebuild_starts)
    with pytest.raises(runner.FencedError, match="another rebuild replaced the shadow tables"):
        runner.rebuild(system_for(settings, orders), OrderSummary)
    assert snapshot(settings, OrderSummary) == incremental
    assert live_offsets(settings, OrderSummary) == orders_end(orders)


def test_a_split_rebuild_whose_checkpoints_another_rebuild_moved_is_fenced_at_the_swap(settings, orders, monkeypatch):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    incremental = snapshot(settings, OrderSummary)
    replay = rebuilding._replay_in_processes

    def then_another_rebuild_commits(job, *args):
        result = replay(job, *args)
        with job.store.engine.begin() as conn:
            replace_checkpoints(conn, OrderSummary.name, schema.Target.REBUILD, {0: 1, 1: 1})
        return result

    monkeypatch.setattr(rebuilding, "_replay_in_processes", then_another_rebuild_commits)
    with pytest.raises(runner.FencedError, match="another rebuild moved the checkpoints"):
        runner.rebuild(system_for(settings, orders), OrderSummary)
    assert snapshot(settings, OrderSummary) == incremental
    assert live_offsets(settings, OrderSummary) == orders_end(orders)


def test_a_poison_message_in_one_share_halts_the_split_rebuild_and_the_live_tables_keep_serving(settings, orders):
    runner.run_until_caught_up(system_for(settings, orders), [OrderSummary])
    before = snapshot(settings, OrderSummary)
    orders.recorder.insert_events([StoredEvent(uuid4(), 1, "Order.Teleported", b"{}")])
    with pytest.raises(runner.ProjectionHaltedError, match="Order.Teleported.*the live tables are unchanged"):
        runner.rebuild(system_for(settings, orders), OrderSummary)
    assert snapshot(settings, OrderSummary) == before


def test_a_store_the_worker_processes_open_from_the_settings_is_split(settings, orders):
    assert parallel.embedded_shares(system_for(settings, orders), OrderSummary) == 2


def test_an_event_store_other_than_the_settings_one_is_not_split(settings, orders, tmp_path):
    other = dataclasses.replace(settings, event_store_url=f"sqlite:///{tmp_path}/another.db")
    assert parallel.embedded_shares(system_for(other, orders), OrderSummary) == 1


def test_a_rebuild_set_to_one_process_is_not_split(settings, orders):
    one_process = dataclasses.replace(settings, rebuild_processes=1)
    assert parallel.embedded_shares(system_for(one_process, orders), OrderSummary) == 1
