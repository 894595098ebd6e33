"""Kafka stops while orders keep coming: the domain API never fails, the relay catches up.

This test stops and starts the shared broker (scripts/services down/up kafka),
so it only runs against the broker that scripts/services manages.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.relay.positions import CheckpointTable
from tests.conftest import load_services_env
from tests.integration.test_relay_checks import (
    ROOT,
    key_order_problems,
    read_topic,
    relay_env,
    start_relay,
)


def _services(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "services"), *args], capture_output=True, text=True, timeout=280
    )


def _stop_kafka(bootstrap: str) -> None:
    done = _services("down", "kafka")
    # Judge by the broker, not the exit status (`down kafka` has exited 1 after stopping it).
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex((host, int(port))) != 0, f"kafka still answers after `down kafka`:\n{done.stderr}"


def _start_kafka() -> None:
    done = _services("up", "kafka")
    assert done.returncode == 0, f"scripts/services up kafka failed:\n{done.stderr}"


def test_orders_keep_coming_while_kafka_is_down_and_all_arrive_after(kafka_bootstrap, make_topic, tmp_path):
    if load_services_env().get("ORDERS_TEST_KAFKA_BOOTSTRAP") != kafka_bootstrap:
        pytest.skip("this test stops the broker scripts/services manages; another broker is configured")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    topic = make_topic(config={"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"})
    orders = open_orders(Settings(event_store_url=url))
    checkpoints = CheckpointTable.sqlite(tmp_path / "events.db")
    log = tmp_path / "relay.log"
    relay = start_relay(relay_env(url, kafka_bootstrap, topic), log=log)
    try:
        simulate_day(orders, n_orders=50, seed=1)
        _wait_until(lambda: checkpoints.load(topic) == orders.recorder.max_notification_id(), relay, log)

        try:
            _stop_kafka(kafka_bootstrap)
            # The domain API never talks to Kafka: every command succeeds (simulate_day raises otherwise).
            deadline = time.monotonic() + 3
            seed = 2
            while time.monotonic() < deadline:
                simulate_day(orders, n_orders=10, seed=seed)
                seed += 1
            assert checkpoints.load(topic) < orders.recorder.max_notification_id()
        finally:
            _start_kafka()

        simulate_day(orders, n_orders=20, seed=999)
        newest = orders.recorder.max_notification_id()
        _wait_until(lambda: checkpoints.load(topic) == newest, relay, log, timeout=120)
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(60) == 0, log.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
        checkpoints.close()

    stored = orders.recorder.select_notifications(start=0, limit=10**6, inclusive_of_start=False)
    orders.close()
    published = read_topic(kafka_bootstrap, topic)
    assert {m.body["position"] for m in published} == {n.id for n in stored}
    assert key_order_problems(published) == []
    assert "unreachable" in log.read_text() or "not acknowledged" in log.read_text()


def _wait_until(condition, relay: subprocess.Popen, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert relay.poll() is None, f"the relay exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out; relay log:\n{log.read_text()}"
        time.sleep(0.05)
