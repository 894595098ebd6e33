"""The relay against the real broker: delivery, envelope, crashes, shutdown, refusal.

One simulated day (2,000 orders, ~11,000 events) is made once for the module
in a SQLite event store; each test publishes it to its own fresh topic (the
relay's checkpoint is per topic, so the tests do not see each other).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.kafka.envelope import HEADER_FIELDS, decode
from adapters.kafka.topics import TOPIC_CONFIG
from adapters.relay.positions import CheckpointTable, open_checkpoints
from adapters.relay.publisher import Relay, RelayTuning
from domain.records import record_of
from tests.integration.test_relay_checks import (
    key_order_problems,
    read_topic,
    relay_env,
    run_cli,
    start_relay,
)

ORDERS_IN_THE_DAY = 2000


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A SQLite event store holding a simulated day, and the events it holds."""
    # On tmpfs when there is one: the day is ~11,000 fsynced commits.
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("relay")
    url = f"sqlite:///{directory / 'events.db'}"
    orders = open_orders(Settings(event_store_url=url))
    simulate_day(orders, n_orders=ORDERS_IN_THE_DAY, seed=11)
    stored = list(orders.recorder.select_notifications(start=0, limit=10**6, inclusive_of_start=False))
    orders.close()
    yield url, stored
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def relay_topic(make_topic):
    """A fresh topic configured as the relay creates it (6 partitions, history kept forever)."""
    return make_topic(partitions=6, config=TOPIC_CONFIG)


def _publish_backlog(url: str, bootstrap: str, topic: str) -> None:
    settings = Settings(event_store_url=url, kafka_bootstrap=bootstrap, topic=topic)
    orders = open_orders(settings)
    try:
        asyncio.run(Relay(settings, orders, open_checkpoints(settings)).run(once=True))
    finally:
        orders.close()


def _checkpoint(url: str, topic: str) -> int:
    store = CheckpointTable.sqlite(Settings(event_store_url=url).sqlite_path)
    try:
        return store.load(topic)
    finally:
        store.close()


def _copy_of(url: str, directory: Path) -> str:
    copy = directory / "events.db"
    source = sqlite3.connect(Settings(event_store_url=url).sqlite_path)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{copy}"


def test_the_relay_creates_an_absent_topic_that_keeps_history_forever(day, kafka_bootstrap):
    url, _ = day
    topic = f"test.relay-created.{uuid.uuid4().hex[:8]}"

    async def describe():
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            (meta,) = await admin.describe_topics([topic])
            (config,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        entries = config.to_object()["resources"][0]["config_entries"]
        return len(meta["partitions"]), {e["config_names"]: e["config_value"] for e in entries}

    _publish_backlog(url, kafka_bootstrap, topic)
    partitions, config = asyncio.run(describe())
    assert partitions == 6
    assert (config["retention.ms"], config["retention.bytes"], config["cleanup.policy"]) == ("-1", "-1", "delete")


def test_every_event_arrives_once_in_version_order_per_order(day, kafka_bootstrap, relay_topic):
    url, stored = day
    _publish_backlog(url, kafka_bootstrap, relay_topic)
    published = read_topic(kafka_bootstrap, relay_topic)
    assert len({str(n.originator_id) for n in stored}) == ORDERS_IN_THE_DAY
    assert sorted(m.body["position"] for m in published) == [n.id for n in stored]
    assert key_order_problems(published) == []


def test_every_message_carries_the_envelope_of_its_stored_event(day, kafka_bootstrap, relay_topic):
    url, stored = day
    _publish_backlog(url, kafka_bootstrap, relay_topic)
    orders = open_orders(Settings(event_store_url=url))
    expected = {n.id: record_of(orders.mapper.to_domain_event(n)) for n in stored}
    orders.close()
    for m in read_topic(kafka_bootstrap, relay_topic):
        record, position = decode(json.dumps(m.body).encode())
        assert record == expected[position]
        assert m.key == record.aggregate_id
        assert m.headers == {name: str(m.body[name]) for name in HEADER_FIELDS}


def test_one_orders_events_share_one_partition(day, kafka_bootstrap, relay_topic):
    url, _ = day
    _publish_backlog(url, kafka_bootstrap, relay_topic)
    published = read_topic(kafka_bootstrap, relay_topic)
    partitions_per_key = {k: {m.partition for m in published if m.key == k} for k in {m.key for m in published[:200]}}
    assert all(len(p) == 1 for p in partitions_per_key.values())
    assert len({m.partition for m in published}) == 6


def test_status_shows_lag_zero_after_run_once(day, kafka_bootstrap, relay_topic):
    url, stored = day
    env = relay_env(url, kafka_bootstrap, relay_topic)
    run = run_cli(env, "relay", "run", "--once")
    assert run.returncode == 0, run.stderr
    status = run_cli(env, "relay", "status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state == {"topic": relay_topic, "checkpoint": stored[-1].id, "newest": stored[-1].id, "lag": 0}


def test_sigkilled_relay_restarts_without_skipping_or_reordering(day, kafka_bootstrap, relay_topic, tmp_path):
    url = _copy_of(day[0], tmp_path)  # this test keeps writing: not into the shared day
    env = relay_env(url, kafka_bootstrap, relay_topic)
    log = tmp_path / "relay.log"
    rng = random.Random(4)
    orders = open_orders(Settings(event_store_url=url))
    writing = threading.Event()
    writing.set()

    def keep_writing() -> None:  # new events keep coming while the relay crashes
        while writing.is_set():
            simulate_day(orders, n_orders=5, seed=rng.randint(10**6, 10**7))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    kills_mid_stream = 0
    try:
        for _ in range(4):
            before = _checkpoint(url, relay_topic)
            relay = start_relay(env, log=log)
            deadline = time.monotonic() + 60
            while _checkpoint(url, relay_topic) == before:  # it is publishing now
                assert relay.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.4))
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
            newest = orders.recorder.max_notification_id()
            kills_mid_stream += _checkpoint(url, relay_topic) < newest
    finally:
        writing.clear()
        writer.join()
    run = run_cli(env, "relay", "run", "--once")
    assert run.returncode == 0, run.stderr
    stored = orders.recorder.select_notifications(start=0, limit=10**6, inclusive_of_start=False)
    orders.close()

    published = read_topic(kafka_bootstrap, relay_topic)
    assert kills_mid_stream >= 3, "the kills should interrupt publishing, not an idle relay"
    assert {m.body["position"] for m in published} == {n.id for n in stored}
    assert key_order_problems(published) == []


def test_sigterm_flushes_records_the_checkpoint_and_exits_zero(day, kafka_bootstrap, relay_topic, tmp_path):
    url, stored = day
    log = tmp_path / "relay.log"
    relay = start_relay(relay_env(url, kafka_bootstrap, relay_topic), log=log)
    deadline = time.monotonic() + 60
    while _checkpoint(url, relay_topic) == 0:
        assert relay.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    relay.send_signal(signal.SIGTERM)
    assert relay.wait(60) == 0, log.read_text()
    positions = Counter(m.body["position"] for m in read_topic(kafka_bootstrap, relay_topic))
    checkpoint = _checkpoint(url, relay_topic)
    assert checkpoint == max(positions), "everything sent before the stop is covered by the checkpoint"
    assert sorted(positions) == [n.id for n in stored if n.id <= checkpoint]


def test_a_topic_with_finite_retention_is_refused_with_the_reason(day, kafka_bootstrap, make_topic):
    url, _ = day
    topic = make_topic(config={"retention.ms": "86400000"})
    run = run_cli(relay_env(url, kafka_bootstrap, topic), "relay", "run", "--once")
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: ") and "retention.ms=86400000" in line and "offset zero" in line
    assert read_topic(kafka_bootstrap, topic) == []


def test_finite_retention_is_accepted_when_explicitly_allowed(day, kafka_bootstrap, make_topic):
    url, stored = day
    topic = make_topic(config={"retention.ms": "86400000"})
    env = relay_env(url, kafka_bootstrap, topic, ORDERS_ALLOW_FINITE_RETENTION="yes")
    run = run_cli(env, "relay", "run", "--once")
    assert run.returncode == 0, run.stderr
    assert _checkpoint(url, topic) == stored[-1].id


def test_run_without_kafka_configured_says_what_to_set(day):
    url, _ = day
    run = run_cli(relay_env(url, "", "unused"), "relay", "run")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "error: the relay needs Kafka: set ORDERS_KAFKA_BOOTSTRAP=host:port (or pass `orders --kafka host:port`)"
    )


class CountingCheckpoints(CheckpointTable):
    saves = 0

    def save(self, topic: str, notification_id: int) -> None:
        self.saves += 1
        super().save(topic, notification_id)


def _publish_counting(url: str, bootstrap: str, topic: str, checkpoint_every: float) -> tuple[int, float]:
    """Publish the backlog in ~110 read batches of 100 (each acknowledged on its own): (checkpoint writes, seconds)."""
    settings = Settings(event_store_url=url, kafka_bootstrap=bootstrap, topic=topic)
    orders = open_orders(settings)
    checkpoints = CountingCheckpoints.sqlite(settings.sqlite_path)
    relay = Relay(settings, orders, checkpoints, tuning=RelayTuning(read_limit=100, checkpoint_every=checkpoint_every))
    try:
        started = time.monotonic()
        asyncio.run(relay.run(once=True))
        return checkpoints.saves, time.monotonic() - started
    finally:
        orders.close()


def test_checkpoint_writes_are_spaced_while_publishing(day, kafka_bootstrap, relay_topic):
    url, _ = day
    saves, took = _publish_counting(url, kafka_bootstrap, relay_topic, checkpoint_every=0.5)
    assert saves <= took / 0.5 + 2


def test_the_checkpoint_written_when_the_relay_stops_covers_everything_published(day, kafka_bootstrap, relay_topic):
    url, stored = day
    saves, _ = _publish_counting(url, kafka_bootstrap, relay_topic, checkpoint_every=3600)
    assert (saves, _checkpoint(url, relay_topic)) == (1, stored[-1].id)
