"""The relay on PostgreSQL: concurrent writers, LISTEN/NOTIFY wake-up, the commit-ordered log."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

import pytest

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.kafka.topics import TOPIC_CONFIG
from adapters.relay.positions import CheckpointTable, open_checkpoints
from adapters.relay.publisher import Relay
from adapters.relay.wakers import PostgresListenWaker
from tests.integration.test_relay_checks import key_order_problems, read_topic


@pytest.fixture
def relay_topic(make_topic):
    return make_topic(partitions=6, config=TOPIC_CONFIG)


class RelayThread:
    """An in-process relay on its own event loop, stopped like SIGTERM stops the CLI's."""

    def __init__(self, settings: Settings, fallback_poll: float | None = None) -> None:
        self.settings = settings
        self.fallback_poll = fallback_poll
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        orders = open_orders(self.settings)
        try:
            waker = None
            if self.fallback_poll is not None:
                waker = PostgresListenWaker(
                    self.settings.postgres, orders.recorder.channel_name, fallback=self.fallback_poll
                )
            relay = Relay(self.settings, orders, open_checkpoints(self.settings), waker=waker)
            self.loop.run_until_complete(relay.run(self.stop))
        except BaseException as e:  # reported by the test thread
            self.error = e
        finally:
            orders.close()

    def __enter__(self) -> RelayThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)
        assert not self.thread.is_alive(), "the relay did not stop within 60s"
        if self.error is not None:
            raise self.error


def _wait_for_checkpoint(settings: Settings, notification_id: int, timeout: float = 60) -> None:
    store = CheckpointTable.postgres(settings.postgres)
    try:
        deadline = time.monotonic() + timeout
        while store.load(settings.topic) < notification_id:
            assert time.monotonic() < deadline, f"checkpoint {store.load(settings.topic)} < {notification_id}"
            time.sleep(0.02)
    finally:
        store.close()


def test_concurrent_writers_every_committed_event_is_published_in_notification_order(
    pg_database, kafka_bootstrap, relay_topic
):
    settings = Settings(event_store_url=pg_database.url, kafka_bootstrap=kafka_bootstrap, topic=relay_topic)
    orders = open_orders(settings)
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            simulate_day(orders, n_orders=60, seed=seed)
        except BaseException as e:
            errors.append(e)

    with RelayThread(settings):
        writers = [threading.Thread(target=write, args=(seed,)) for seed in range(100, 106)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        assert errors == []
        _wait_for_checkpoint(settings, orders.recorder.max_notification_id())

    with pg_database.connect() as conn:
        table = orders.recorder.events_table_name
        committed = [row[0] for row in conn.execute(f"SELECT notification_id FROM {table} ORDER BY 1")]
    orders.close()
    published = read_topic(kafka_bootstrap, relay_topic)
    positions = [m.body["position"] for m in published]
    assert len(positions) == len(set(positions)), "a relay that never crashed publishes each event once"
    assert set(positions) == set(committed)
    per_partition = defaultdict(list)
    for m in sorted(published, key=lambda m: (m.partition, m.offset)):
        per_partition[m.partition].append(m.body["position"])
    assert all(p == sorted(p) for p in per_partition.values()), "each partition in notification order"
    assert key_order_problems(published) == []


def test_the_relay_is_woken_by_notify_not_by_its_fallback_poll(pg_database, kafka_bootstrap, relay_topic):
    # With a 120 s fallback poll, only LISTEN/NOTIFY can get these published within the timeout.
    settings = Settings(event_store_url=pg_database.url, kafka_bootstrap=kafka_bootstrap, topic=relay_topic)
    orders = open_orders(settings)
    orders.place_order("customer-first", [("BOOK-1", 1, "9.90")])
    with RelayThread(settings, fallback_poll=120):
        _wait_for_checkpoint(settings, orders.recorder.max_notification_id())
        for i in range(5):
            orders.place_order(f"customer-{i}", [("BOOK-1", 1, "9.90")])
            _wait_for_checkpoint(settings, orders.recorder.max_notification_id(), timeout=30)
    orders.close()


def test_inserts_take_the_table_lock_that_makes_the_log_commit_ordered(pg_database):
    """open_orders keeps eventsourcing's DB functions off: every insert locks the table.

    A ROW SHARE lock held elsewhere does not block a plain INSERT (ROW
    EXCLUSIVE) but does block ``LOCK TABLE ... IN EXCLUSIVE MODE``. So while we
    hold it, a command must wait for an EXCLUSIVE lock on the events table.
    """
    orders = open_orders(Settings(event_store_url=pg_database.url))
    orders.place_order("customer-0", [("BOOK-1", 1, "9.90")])  # creates the table
    assert orders.recorder.datastore.enable_db_functions is False
    table = orders.recorder.events_table_name
    done = threading.Event()
    with pg_database.connect() as holder:
        holder.execute("BEGIN")
        holder.execute(f"LOCK TABLE {table} IN ROW SHARE MODE")
        writer = threading.Thread(
            target=lambda: (orders.place_order("customer-1", [("BOOK-1", 1, "9.90")]), done.set())
        )
        writer.start()
        with pg_database.connect() as observer:
            deadline = time.monotonic() + 10
            waiting = []
            while not waiting and time.monotonic() < deadline:
                waiting = observer.execute(
                    "SELECT mode FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,)
                ).fetchall()
                time.sleep(0.02)
        assert waiting == [("ExclusiveLock",)]
        assert not done.is_set()
        holder.execute("ROLLBACK")
    writer.join(10)
    assert done.is_set()
    orders.close()
