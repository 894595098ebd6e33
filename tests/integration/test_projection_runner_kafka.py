"""The runner on Kafka into PostgreSQL: catch-up, duplicates, fencing, rebuild swaps, poison.

Events are published with the envelope codec by a plain aiokafka producer
(keyed by order id), as the relay does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import select, text

from adapters import runner
from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.kafka.envelope import encode
from adapters.kafka.source import KafkaSource, group_id
from adapters.runner.kafka import KAFKA_COPY_INTERVAL
from adapters.runner.replay import ReplayWorker, replay_kafka
from adapters.sql import schema
from adapters.sql.checkpoints import FencedError
from adapters.sql.engines import create_read_model_engine
from adapters.sql.shadow import create_shadow, drop_shadow, shadow_tables
from adapters.sql.state import ensure_state
from domain.records import record_of
from tests.local.projection_kit import OrderEvents, counts
from tests.systems import migrate, system_for


@pytest.fixture
def history(tmp_path: Path):
    """A simulated day in a SQLite event store: (orders app, [(record, position)])."""
    orders = open_orders(Settings(event_store_url=f"sqlite:///{tmp_path}/events.db"))
    simulate_day(orders, 25, n_customers=10, seed=5)
    notes = orders.recorder.select_notifications(start=0, limit=100_000)
    yield orders, [(record_of(orders.mapper.to_domain_event(n)), n.id) for n in notes]
    orders.close()


@pytest.fixture
def settings(kafka_bootstrap, kafka_topic, make_pg_database, tmp_path) -> Settings:
    db = make_pg_database()
    s = Settings(
        event_store_url=f"sqlite:///{tmp_path}/unused.db",
        read_model_url=db.url,
        kafka_bootstrap=kafka_bootstrap,
        topic=kafka_topic,
    )
    migrate(s, [OrderEvents])
    return s


def publish(settings: Settings, messages: list[tuple[bytes | None, bytes]]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for key, value in messages:
                await producer.send(settings.topic, value=value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def publish_events(settings: Settings, events) -> None:
    publish(settings, [(e.key, e.value) for e in (encode(r, p) for r, p in events)])


def expected(events) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record, _ in events:
        counts[record.aggregate_id] = counts.get(record.aggregate_id, 0) + 1
    return counts



def snapshot(settings: Settings) -> dict[str, list]:
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        out = {t.name: conn.execute(select(t).order_by(*t.primary_key.columns)).all() for t in OrderEvents.tables()}
    engine.dispose()
    return out


def test_a_projection_catches_up_from_offset_zero_on_kafka(settings, history):
    _, events = history
    publish_events(settings, events)
    stats = runner.run_until_caught_up(system_for(settings), [OrderEvents])
    assert counts(settings) == expected(events)
    assert stats.applied == len(events)
    [status] = runner.status(system_for(settings), [OrderEvents])
    assert status.lag == 0 and len(status.partitions) == 6


def offsets_in_kafka(settings: Settings) -> dict[int, int]:
    """The offsets OrderEvents' consumer group has committed in Kafka (partitions with one)."""

    async def committed() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=group_id("order_events", settings.topic)
        )
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(settings.topic, p)) for p in range(6)}
        finally:
            await consumer.stop()

    return {p: o for p, o in asyncio.run(committed()).items() if o}


def offsets_in_sql(settings: Settings) -> dict[int, int]:
    [status] = runner.status(system_for(settings), [OrderEvents])
    return {p.partition: p.offset for p in status.partitions if p.offset}


def test_offsets_are_copied_to_the_consumer_group_in_kafka(settings, history):
    _, events = history
    publish_events(settings, events)
    runner.run_until_caught_up(system_for(settings), [OrderEvents])
    assert offsets_in_kafka(settings) == offsets_in_sql(settings)


def test_a_running_runner_copies_its_last_offsets_to_kafka_while_idle(settings, history):
    _, events = history
    stop = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(runner.run(system_for(settings), [OrderEvents], stop=stop))
        except BaseException as e:  # noqa: BLE001 - asserted below
            outcome.append(e)

    running = threading.Thread(target=run)
    running.start()
    try:
        # Batches in quick succession: the copy after the first one waits for
        # KAFKA_COPY_INTERVAL to pass, with no batch after it to carry it.
        for part in (events[:10], events[10:20], events[20:]):
            publish_events(settings, part)
            deadline = time.monotonic() + 30
            while sum(offsets_in_sql(settings).values()) < events.index(part[-1]) + 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        copied_within = time.monotonic() + KAFKA_COPY_INTERVAL + 5
        while offsets_in_kafka(settings) != offsets_in_sql(settings) and time.monotonic() < copied_within:
            time.sleep(0.2)
        assert running.is_alive()
        assert (
            offsets_in_kafka(settings) == offsets_in_sql(settings)
            and sum(offsets_in_sql(settings).values()) == len(events)
        )
    finally:
        stop.set()
        running.join(30)
    assert not running.is_alive() and isinstance(outcome[0], runner.RunStats)


def test_a_republished_tail_changes_nothing(settings, history):
    _, events = history
    publish_events(settings, events)
    runner.run_until_caught_up(system_for(settings), [OrderEvents])
    before = snapshot(settings)
    publish_events(settings, events[-30:])
    stats = runner.run_until_caught_up(system_for(settings), [OrderEvents])
    assert (stats.duplicates, stats.applied) == (30, 0)
    assert snapshot(settings) == before


def test_a_stale_writer_is_fenced_on_postgres(settings, history):
    from adapters.eventstore.source import EmbeddedSource

    orders, _ = history
    engine = create_read_model_engine(settings.read_model_url, writer=True)
    with engine.begin() as conn:
        ensure_state(conn, OrderEvents)
    messages = EmbeddedSource(orders).read(0, 10_000)
    current, stale = (runner.LiveBatchWriter(engine, OrderEvents) for _ in range(2))
    current.reload()
    stale.reload()
    current.process(messages)
    with pytest.raises(FencedError):
        stale.process(messages)
    assert stale.process(messages).consumed == 0  # it re-read the offsets
    engine.dispose()
    assert counts(settings) == expected([(m.event, m.offset) for m in messages])


def test_rebuilding_twice_on_postgres_swaps_cleanly_and_keeps_live_names(settings, history):
    _, events = history
    publish_events(settings, events)
    runner.run_until_caught_up(system_for(settings), [OrderEvents])
    incremental = snapshot(settings)
    runner.rebuild(system_for(settings), OrderEvents)
    runner.rebuild(system_for(settings), OrderEvents)
    assert snapshot(settings) == incremental
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        names = set(
            conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "AND relname LIKE '%order_event%'"
                )
            ).scalars()
        )
    engine.dispose()
    assert names == {
        "order_events", "order_events_pkey", "ix_order_events_last_type",
        "order_events_versions", "order_events_versions_pkey",
    }


def test_live_processing_continues_after_a_kafka_rebuild(settings, history):
    _, events = history
    publish_events(settings, events[:100])
    runner.rebuild(system_for(settings), OrderEvents)
    publish_events(settings, events[100:])
    runner.run_until_caught_up(system_for(settings), [OrderEvents])
    assert counts(settings) == expected(events)


def test_garbage_on_the_topic_is_dead_lettered_with_its_bytes(settings, history, monkeypatch):
    monkeypatch.setattr(OrderEvents, "error_policy", "dead-letter")
    _, events = history
    order = events[0][0].aggregate_id
    publish(settings, [(order.encode(), b"\x00not json")])
    publish_events(settings, events)
    runner.run_until_caught_up(system_for(settings), [OrderEvents])
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        letters = conn.execute(
            select(schema.dead_letters.c.status, schema.dead_letters.c.payload, schema.dead_letters.c.aggregate_id)
        ).all()
    engine.dispose()
    dead = [row for row in letters if row.status == "dead"]
    assert [(row.payload, row.aggregate_id) for row in dead] == [(b"\x00not json", order)]
    assert order not in counts(settings)
    assert {k: v for k, v in counts(settings).items()} == {k: v for k, v in expected(events).items() if k != order}


def test_money_and_json_columns_survive_the_bulk_upsert_on_postgres(settings, history):
    from projections import OrderSummary

    orders, events = history
    publish_events(settings, events)
    runner.run_until_caught_up(system_for(settings), [OrderSummary])
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        rows = {r.order_id: r for r in conn.execute(select(OrderSummary.orders))}
    engine.dispose()
    assert len(rows) == len(expected(events))
    for order_id, row in rows.items():
        view = orders.get_order(order_id)
        assert (row.total, row.line_count) == (view.total, len(view.lines))
        assert set(json.loads(row.lines)) == {line.sku for line in view.lines}


def _end_offsets(settings: Settings) -> dict[int, int]:
    async def go() -> dict[int, int]:
        source = KafkaSource(settings.kafka_bootstrap, settings.topic)
        consumer = source.consumer(None)
        await consumer.start()
        try:
            tps = await source.partitions(consumer)
            return {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()

    return asyncio.run(go())


def test_a_replay_of_the_topic_stops_at_the_end_offsets_it_is_given(settings, history):
    publish_events(settings, history[1])
    ends = {p: end // 2 for p, end in _end_offsets(settings).items()}
    assert sum(ends.values()) > 0
    engine = create_read_model_engine(settings.read_model_url, writer=True)
    try:
        tables = shadow_tables(OrderEvents, postgres=True)
        with engine.begin() as conn:
            ensure_state(conn, OrderEvents)
            drop_shadow(conn, tables)
            create_shadow(conn, tables)
        worker = ReplayWorker(engine, OrderEvents, tables, created_empty=True)
        starts = worker.reload()
        source = KafkaSource(settings.kafka_bootstrap, settings.topic)
        stats = asyncio.run(replay_kafka(source, worker, starts, None, 7, 0.0, ends))
    finally:
        engine.dispose()
    assert ({p: worker.next_offset(p) for p in ends}, stats.events) == (ends, sum(ends.values()))
