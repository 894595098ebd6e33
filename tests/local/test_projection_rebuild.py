"""Rebuild by replay on the embedded source: equal tables, atomic swap, crash safety."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from adapters import runner
from adapters.eventstore.source import EmbeddedSource
from adapters.sql import schema
from adapters.sql.checkpoints import FencedError, read_checkpoints
from adapters.sql.engines import create_read_model_engine
from adapters.sql.state import ensure_state
from tests.local.projection_kit import (
    OrderEvents,
    expected_counts,
    simulate,
    snapshot,
    table_rows,
)
from tests.systems import system_for


class Crash(Exception):
    pass


def crash_after(batches: int):
    seen = []

    def progress(p: runner.Progress) -> None:
        if p.events:
            seen.append(p)
        if len(seen) >= batches:
            raise Crash(f"crashed after {p.done} of {p.total}")

    return progress


def test_a_rebuild_equals_incremental_processing_row_for_row(migrated, orders):
    simulate(orders)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents], batch_size=13)
    incremental = snapshot(migrated)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    assert snapshot(migrated) == incremental


def test_rebuilding_twice_gives_identical_tables(migrated, orders):
    simulate(orders)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    first = snapshot(migrated)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    assert snapshot(migrated) == first
    assert first["order_events"]


def test_the_swap_gives_the_secondary_indexes_their_live_names(migrated, orders):
    simulate(orders, n_orders=5)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    engine = create_read_model_engine(migrated.read_model_url)
    indexes = {i["name"] for i in inspect(engine).get_indexes("order_events")}
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert indexes == {"ix_order_events_last_type"}
    assert not {t for t in tables if t.endswith("__rebuild")}


def test_live_processing_continues_after_the_swap_with_no_gap_and_no_double_count(migrated, orders):
    simulate(orders, n_orders=10, seed=1)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    simulate(orders, n_orders=10, seed=2)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert {r["order_id"]: r["events"] for r in table_rows(migrated, OrderEvents.orders)} == expected_counts(orders)


def test_a_live_writer_holding_old_offsets_is_fenced_by_the_swap(migrated, orders):
    simulate(orders, n_orders=10)
    engine = create_read_model_engine(migrated.read_model_url, writer=True)
    live = runner.LiveBatchWriter(engine, OrderEvents)
    with engine.begin() as conn:
        ensure_state(conn, OrderEvents)
    live.reload()
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    with pytest.raises(FencedError):
        live.process(EmbeddedSource(orders).read(0, 10_000))
    assert live.process(EmbeddedSource(orders).read(0, 10_000)).consumed == 0
    engine.dispose()
    assert {r["order_id"]: r["events"] for r in table_rows(migrated, OrderEvents.orders)} == expected_counts(orders)


def test_a_crash_mid_rebuild_leaves_the_old_tables_serving(migrated, orders):
    simulate(orders, n_orders=10, seed=1)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    before = snapshot(migrated)
    simulate(orders, n_orders=10, seed=2)
    with pytest.raises(Crash):
        runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=10, progress=crash_after(2))
    assert snapshot(migrated) == before


def test_an_interrupted_rebuild_resumes_from_its_own_checkpoints(migrated, orders):
    simulate(orders)
    total = sum(expected_counts(orders).values())
    with pytest.raises(Crash):
        runner.rebuild(
            system_for(migrated, orders), OrderEvents, batch_size=10, flush_every=10, progress=crash_after(3)
        )
    stats = runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=10)
    assert stats.events == total - 30
    assert {r["order_id"]: r["events"] for r in table_rows(migrated, OrderEvents.orders)} == expected_counts(orders)


def test_an_interrupted_rebuild_loses_only_what_it_applied_since_its_last_flush(migrated, orders):
    simulate(orders)
    total = sum(expected_counts(orders).values())
    with pytest.raises(Crash):
        # Batches of 10, a commit every 20 messages: the crash after the 5th
        # batch finds 40 committed and 10 only in memory.
        runner.rebuild(
            system_for(migrated, orders), OrderEvents, batch_size=10, flush_every=20, progress=crash_after(5)
        )
    stats = runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=10)
    assert stats.events == total - 40
    assert {r["order_id"]: r["events"] for r in table_rows(migrated, OrderEvents.orders)} == expected_counts(orders)


def test_an_interrupted_rebuild_of_older_code_starts_over(migrated, orders, monkeypatch):
    simulate(orders)
    total = sum(expected_counts(orders).values())
    with pytest.raises(Crash):
        runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=10, progress=crash_after(3))
    monkeypatch.setattr(OrderEvents, "version", 2)
    stats = runner.rebuild(system_for(migrated, orders), OrderEvents)
    assert stats.events == total


def test_a_version_bump_rebuilds_the_projection_before_it_runs(migrated, orders, monkeypatch):
    simulate(orders, n_orders=10)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    monkeypatch.setattr(OrderEvents, "version", 2)
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert stats.rebuilt == ["order_events"]
    [status] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert (status.version, status.lag) == (2, 0)


def test_tables_built_by_newer_code_are_refused(migrated, orders, monkeypatch):
    simulate(orders, n_orders=2)
    monkeypatch.setattr(OrderEvents, "version", 3)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    monkeypatch.setattr(OrderEvents, "version", 2)
    with pytest.raises(runner.ConfigurationError, match="built by version 3, newer than this code's version 2"):
        runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])


def test_the_rebuild_reports_progress_up_to_the_end_offsets(migrated, orders):
    simulate(orders, n_orders=10)
    reports: list[runner.Progress] = []
    runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=20, progress=reports.append)
    assert reports[-1].done == reports[-1].total == orders.recorder.max_notification_id() + 1
    assert reports[-1].events == sum(expected_counts(orders).values())
    assert len(reports) > 2


def test_after_a_swap_the_rebuild_checkpoints_are_live(migrated, orders):
    simulate(orders, n_orders=5)
    runner.rebuild(system_for(migrated, orders), OrderEvents)
    engine = create_read_model_engine(migrated.read_model_url)
    with engine.connect() as conn:
        assert read_checkpoints(conn, "order_events", schema.Target.REBUILD) == {}
        assert read_checkpoints(conn, "order_events", schema.Target.LIVE) == {
            0: orders.recorder.max_notification_id() + 1
        }
    engine.dispose()
