"""The runner on the embedded source (SQLite event store -> SQLite read models)."""

from __future__ import annotations

import pytest

from adapters import runner
from adapters.eventstore.source import EmbeddedSource
from adapters.sql import schema
from adapters.sql.checkpoints import FencedError, move_checkpoints, read_checkpoints
from adapters.sql.engines import create_read_model_engine
from adapters.sql.state import ensure_state
from domain.records import record_of
from tests.local.projection_kit import (
    OrderEvents,
    counts,
    expected_counts,
    simulate,
    snapshot,
)
from tests.systems import system_for


def test_catch_up_from_offset_zero_applies_every_event(migrated, orders):
    simulate(orders)
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert counts(migrated) == expected_counts(orders)
    assert stats.applied == sum(expected_counts(orders).values())


def test_a_second_run_applies_only_new_events(migrated, orders):
    simulate(orders, n_orders=10, seed=1)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    before = sum(expected_counts(orders).values())
    simulate(orders, n_orders=10, seed=2)
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert stats.events == sum(expected_counts(orders).values()) - before
    assert counts(migrated) == expected_counts(orders)


def test_small_batches_reach_the_same_tables_as_one_big_batch(migrated, orders, tmp_path):
    simulate(orders)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents], batch_size=7)
    small = snapshot(migrated)
    runner.rebuild(system_for(migrated, orders), OrderEvents, batch_size=100_000)
    assert snapshot(migrated) == small


def test_checkpoint_is_stored_with_the_rows(migrated, orders):
    simulate(orders, n_orders=5)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    engine = create_read_model_engine(migrated.read_model_url)
    with engine.connect() as conn:
        assert read_checkpoints(conn, "order_events", schema.Target.LIVE) == {
            0: orders.recorder.max_notification_id() + 1
        }
    engine.dispose()


def test_a_stale_writer_is_fenced_and_its_batch_rolled_back(migrated, orders):
    simulate(orders, n_orders=5)
    engine = create_read_model_engine(migrated.read_model_url, writer=True)
    with engine.begin() as conn:
        ensure_state(conn, OrderEvents)
    messages = EmbeddedSource(orders).read(0, 1000)
    current, stale = (runner.LiveBatchWriter(engine, OrderEvents) for _ in range(2))
    current.reload()
    stale.reload()
    current.process(messages)
    with pytest.raises(FencedError):
        stale.process(messages)
    assert counts(migrated) == expected_counts(orders)
    engine.dispose()


def test_a_fenced_writer_rereads_its_offsets_and_applies_nothing_twice(migrated, orders):
    simulate(orders, n_orders=5)
    engine = create_read_model_engine(migrated.read_model_url, writer=True)
    with engine.begin() as conn:
        ensure_state(conn, OrderEvents)
    messages = EmbeddedSource(orders).read(0, 1000)
    current, stale = (runner.LiveBatchWriter(engine, OrderEvents) for _ in range(2))
    current.reload()
    stale.reload()
    current.process(messages)
    with pytest.raises(FencedError):
        stale.process(messages)
    result = stale.process(messages)
    assert result.consumed == 0
    assert counts(migrated) == expected_counts(orders)
    engine.dispose()


def test_a_checkpoint_moved_since_it_was_read_fences_the_write(migrated):
    engine = create_read_model_engine(migrated.read_model_url, writer=True)
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: None}, {0: 10})
    with engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: 10}, {0: 20})
    with pytest.raises(FencedError, match="no longer at 10"), engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: 10}, {0: 15})
    with pytest.raises(FencedError, match="created the checkpoint first"), engine.begin() as conn:
        move_checkpoints(conn, "p", schema.Target.LIVE, {0: None}, {0: 5})
    with engine.connect() as conn:
        assert read_checkpoints(conn, "p", schema.Target.LIVE) == {0: 20}
    engine.dispose()


def test_embedded_records_equal_the_domain_records(orders):
    simulate(orders, n_orders=15)
    source = EmbeddedSource(orders)
    notifications = orders.recorder.select_notifications(start=0, limit=10_000)
    rows = source.log.read(0, 10_000)
    assert [row[0] for row in rows] == [n.id for n in notifications]
    for row, n in zip(rows, notifications, strict=True):
        assert source.record(row) == record_of(orders.mapper.to_domain_event(n))


def test_an_unknown_event_type_in_the_log_is_a_poison_message(orders):
    from uuid import uuid4

    from eventsourcing.persistence import StoredEvent

    orders.recorder.insert_events([StoredEvent(uuid4(), 1, "Order.Teleported", b"{}")])
    [message] = EmbeddedSource(orders).read(0, 10)
    assert message.event is None
    assert "unknown event type 'Order.Teleported'" in message.error
