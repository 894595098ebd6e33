"""The rebuild's worker: rows kept in memory across batches, committed every ``flush_every`` messages."""

from __future__ import annotations

import sqlite3

import pytest

from adapters import runner
from adapters.eventstore.source import EmbeddedSource
from adapters.runner import replay
from adapters.runner.replay import ReplayWorker
from adapters.sql import engines, replay_rows, retries
from adapters.sql.checkpoints import FencedError, read_checkpoints
from adapters.sql.engines import create_read_model_engine
from adapters.sql.shadow import create_shadow, drop_shadow, shadow_tables
from adapters.sql.state import ensure_state, set_rebuild_fingerprint
from tests.local.projection_kit import (
    OrderEvents,
    expected_counts,
    simulate,
    snapshot,
)
from tests.systems import system_for


def _fresh_shadow(settings):
    engine = create_read_model_engine(settings.read_model_url, writer=True)
    tables = shadow_tables(OrderEvents, postgres=False)
    with engine.begin() as conn:
        ensure_state(conn, OrderEvents)
        drop_shadow(conn, tables)
        create_shadow(conn, tables)
    return engine, tables


def test_a_rebuild_holding_fewer_rows_than_its_history_touches_equals_the_incremental_tables(
    migrated, orders, monkeypatch
):
    simulate(orders, n_orders=40)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    incremental = snapshot(migrated)
    # Three rows per table stay in memory after each flush: the others (event
    # types, orders) are dropped and read back from the shadow tables when
    # they come again.
    monkeypatch.setattr(replay, "MAX_CACHED_ROWS", 3)
    runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=7, flush_every=7)
    assert snapshot(migrated) == incremental


def test_nothing_is_written_before_flush_every_messages_are_applied(migrated, orders):
    simulate(orders, n_orders=5)
    engine, tables = _fresh_shadow(migrated)
    worker = ReplayWorker(engine, OrderEvents, tables, created_empty=True, flush_every=1000)
    worker.reload()
    messages = EmbeddedSource(orders).read(0, 10_000)
    worker.process(messages)
    with engine.connect() as conn:
        assert read_checkpoints(conn, OrderEvents.name, tables.target) == {}
    assert worker.next_offset(0) == messages[-1].offset + 1
    worker.flush()
    with engine.connect() as conn:
        assert read_checkpoints(conn, OrderEvents.name, tables.target) == {0: messages[-1].offset + 1}
    engine.dispose()


def test_a_flush_after_another_writer_moved_the_checkpoints_is_fenced_and_forgets_its_rows(migrated, orders):
    simulate(orders, n_orders=5)
    engine, tables = _fresh_shadow(migrated)
    messages = EmbeddedSource(orders).read(0, 10_000)
    first = ReplayWorker(engine, OrderEvents, tables, created_empty=True, flush_every=10**6)
    other = ReplayWorker(engine, OrderEvents, tables, created_empty=False, flush_every=10**6)
    first.reload()
    other.reload()
    first.process(messages[:10])
    other.process(messages[:15])
    other.flush()
    with pytest.raises(FencedError, match="checkpoints moved"):
        first.flush()
    # It re-read the checkpoints: it goes on from where the other writer stopped.
    assert first.next_offset(0) == messages[14].offset + 1
    first.process(messages)
    first.flush()
    counts = {r["order_id"]: r["events"] for r in table_rows_of(engine, tables)}
    assert counts == expected_counts(orders)
    engine.dispose()


def table_rows_of(engine, tables):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(tables.physical[OrderEvents.orders].select()).mappings()]


def test_a_rebuild_that_forgets_which_keys_it_dropped_still_equals_the_incremental_tables(
    migrated, orders, monkeypatch
):
    simulate(orders, n_orders=40)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    incremental = snapshot(migrated)
    monkeypatch.setattr(replay, "MAX_CACHED_ROWS", 3)
    monkeypatch.setattr(replay_rows, "MAX_EVICTED_KEYS", 5)  # then every key not in memory is looked up
    runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=7, flush_every=7)
    assert snapshot(migrated) == incremental


def test_a_flush_after_a_rebuild_of_other_code_replaced_the_shadow_tables_is_fenced(migrated, orders):
    simulate(orders, n_orders=5)
    engine, tables = _fresh_shadow(migrated)
    with engine.begin() as conn:
        set_rebuild_fingerprint(conn, OrderEvents.name, "this-code")
    worker = ReplayWorker(engine, OrderEvents, tables, created_empty=True, flush_every=10**6, fingerprint="this-code")
    worker.reload()
    worker.process(EmbeddedSource(orders).read(0, 10_000))
    with engine.begin() as conn:  # another rebuild, of other code, starts over
        drop_shadow(conn, tables)
        create_shadow(conn, tables)
        set_rebuild_fingerprint(conn, OrderEvents.name, "other-code")
    with pytest.raises(FencedError, match="another rebuild, of other code"):
        worker.flush()
    assert table_rows_of(engine, tables) == []
    engine.dispose()


def test_reading_rows_back_does_not_wait_for_another_processs_write_lock(migrated, orders, monkeypatch):
    simulate(orders, n_orders=10)
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 200)  # a read that waits for the lock fails fast
    monkeypatch.setattr(retries, "DB_ATTEMPTS", 1)
    engine, tables = _fresh_shadow(migrated)
    worker = ReplayWorker(engine, OrderEvents, tables, created_empty=True, flush_every=10**6, max_cached_rows=0)
    worker.reload()
    messages = EmbeddedSource(orders).read(0, 10_000)
    worker.process(messages)
    worker.flush()  # every row stored, none kept in memory
    table = tables.order_keyed[0]
    keys = [(m.aggregate_id,) for m in messages]
    assert not any(worker.rows.cached(table, key) for key in keys)
    other = sqlite3.connect(migrated.read_model_url.split(":///", 1)[1])
    other.execute("BEGIN IMMEDIATE")  # another worker flushing
    try:
        worker.rows.load_misses(messages)
    finally:
        other.rollback()
        other.close()
    assert all(worker.rows.cached(table, key) for key in keys)
    engine.dispose()


def test_a_replay_of_the_embedded_log_stops_at_the_end_offsets_it_is_given(migrated, orders):
    simulate(orders, n_orders=5)
    engine, tables = _fresh_shadow(migrated)
    source = EmbeddedSource(orders)
    everything = source.read(0, 10_000)
    end = everything[len(everything) // 2].offset
    try:
        worker = ReplayWorker(engine, OrderEvents, tables, created_empty=True)
        starts = worker.reload()
        stats = replay.replay_embedded(source, worker, starts, None, 7, 0.0, ends={0: end})
    finally:
        engine.dispose()
    assert (worker.next_offset(0), stats.events) == (end, sum(1 for m in everything if m.offset < end))
