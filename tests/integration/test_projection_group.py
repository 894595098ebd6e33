"""Two runner processes in one consumer group per projection (Kafka, 6 partitions, PostgreSQL read model).

The history (500 simulated orders, ~2,700 events) is made once for the module
in a SQLite event store; the expected tables are what the embedded source
builds from it. The runners are started on the empty topic, so that both own
partitions before the relay publishes anything.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.kafka.topics import TOPIC_CONFIG
from projections import BUILT_IN
from tests.integration.projection_helpers import (
    Snapshot,
    cli_env,
    differences,
    end_offsets,
    fresh_database,
    group_members,
    live_offsets,
    live_progress,
    migrated,
    reference_read_model,
    snapshot,
    start_cli,
    wait_until,
)

NAMES = [p.name for p in BUILT_IN]


@dataclass(frozen=True)
class History:
    event_store_url: str
    events: int
    reference: Snapshot


@pytest.fixture(scope="module")
def history(pg_url, tmp_path_factory) -> Iterator[History]:
    shm = Path("/dev/shm")  # the day is ~3,000 small commits: on tmpfs when there is one
    directory = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("group")
    url = f"sqlite:///{directory / 'events.db'}"
    orders = open_orders(Settings(event_store_url=url))
    try:
        simulate_day(orders, n_orders=500, n_customers=100, seed=31)
        events = orders.recorder.max_notification_id()
    finally:
        orders.close()
    with fresh_database(pg_url) as reference_db:
        reference = reference_read_model(url, reference_db)
    yield History(url, events, reference)
    shutil.rmtree(directory, ignore_errors=True)


def split_between_two(bootstrap: str, topic: str) -> dict[str, dict[str, frozenset[int]]] | None:
    """Per projection, member -> partitions, once every group has two members sharing all 6; else None."""
    groups = {}
    for name in NAMES:
        members = group_members(bootstrap, name, topic)
        if len(members) != 2 or set().union(*(m.partitions for m in members)) != set(range(6)):
            return None
        groups[name] = {m.member_id: m.partitions for m in members}
    return groups


def owned_by_one(bootstrap: str, topic: str) -> dict[str, str] | None:
    """Per projection, the one member owning all 6 partitions; else None."""
    owners = {}
    for name in NAMES:
        members = group_members(bootstrap, name, topic)
        if len(members) != 1 or members[0].partitions != set(range(6)):
            return None
        owners[name] = members[0].member_id
    return owners


@pytest.mark.timeout(90)
def test_when_one_of_two_runners_in_a_group_is_killed_the_other_takes_over_and_the_tables_are_exact(
    history, make_topic, make_pg_database, kafka_bootstrap, tmp_path
):
    topic = make_topic(partitions=6, config=TOPIC_CONFIG)
    db = make_pg_database()
    migrated(db.url)
    env = cli_env(event_store_url=history.event_store_url, read_model_url=db.url,
                  kafka_bootstrap=kafka_bootstrap, topic=topic)
    logs = [tmp_path / "runner-a.log", tmp_path / "runner-b.log"]
    # Small batches: the runners take a few seconds over the history, so the kill falls mid-way.
    runners = [start_cli(env, "projections", "run", "--batch-size", "20", log=log) for log in logs]
    try:
        before = wait_until(lambda: split_between_two(kafka_bootstrap, topic),
                            "both runners own partitions in every group", timeout=40, every=0.2, alive=runners)

        relay = start_cli(env, "relay", "run", "--once", log=tmp_path / "relay.log")
        everything = 3 * history.events
        wait_until(lambda: live_progress(db.url) >= everything // 10, "the runners apply events",
                   alive=runners, log=logs[0])
        victim, survivor = runners
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        at_kill = live_offsets(db.url, NAMES)
        assert relay.wait(60) == 0, (tmp_path / "relay.log").read_text()
        ends = end_offsets(kafka_bootstrap, topic)
        assert sum(ends.values()) == history.events

        # The survivor is alone in each group once Kafka has expired the killed
        # member (session timeout: 10s, aiokafka's default; the runner has no
        # setting for it), and catches up the killed runner's partitions.
        after = wait_until(lambda: owned_by_one(kafka_bootstrap, topic), "the survivor owns every partition",
                           timeout=40, every=0.2, alive=[survivor], log=logs[1])
        wait_until(lambda: live_progress(db.url) == everything, "the survivor catches up",
                   timeout=30, alive=[survivor], log=logs[1])
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0, logs[1].read_text()
    finally:
        for process in runners:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    taken_over = {
        name: partitions
        for name in NAMES
        for member, partitions in before[name].items()
        if member != after[name]
    }
    assert set(taken_over) == set(NAMES), "the survivor kept its member id in every group"
    unfinished = [
        (name, p) for name, partitions in taken_over.items() for p in partitions
        if at_kill.get((name, p), 0) < ends[p]
    ]
    assert unfinished, "the killed runner had work left that the survivor had to take over"
    assert differences(snapshot(db.url), history.reference) == []
