"""Reactors on Kafka + PostgreSQL, with a real SMTP server: each effect once in effect, through crashes.

Every scenario: a PostgreSQL database (events, stock and read models), a
fresh topic fed by `orders relay run`, a recording SMTP server, a stocked
catalogue, and orders placed (some edited, some confirmed) while reactor
runners run as processes of their own. The oracle (tests/reactor_day.py)
reads the orders and the restocks through the domain API, never the
reactors' tables: the stock each open order must hold, and the mails due
(one per order placed, one per cancellation).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from adapters.bootstrap import System
from adapters.config import Settings
from domain.order import OrderStatus
from tests.integration.conftest import PgDatabase
from tests.integration.projection_helpers import (
    cli_env,
    end_offsets,
    fresh_topic,
    migrated,
    run_cli,
    start_cli,
    wait_until,
)
from tests.reactor_day import Day, expected, place_orders, restock
from tests.smtp_server import RecordingSmtpServer


@dataclass
class Scenario:
    """The services of one scenario, the day's orders, and the processes it started."""

    db: PgDatabase
    topic: str
    env: dict[str, str]
    system: System
    smtp: RecordingSmtpServer
    day: Day
    log: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        process = start_cli(self.env, *args, log=self.log)
        self.processes.append(process)
        return process

    def place(self, seed: int, n: int) -> None:
        place_orders(self.system.orders, self.day, seed, n)

    def effects(self, query: str) -> list[tuple]:
        with psycopg.connect(self.db.url) as conn:
            return conn.execute(query).fetchall()

    def finish(self) -> None:
        """React until every event is handled, the reactors' own cancellations included (they are events too)."""
        for _ in range(5):
            newest = self.system.orders.recorder.max_notification_id() or 0
            wait_until(lambda n=newest: _relay_checkpoint(self.db.url, self.topic) >= n,
                       "the relay publishes every event", alive=[self.processes[0]], log=self.log, timeout=60)
            done = run_cli(self.env, "reactors", "run", "--until-caught-up", timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
            if (self.system.orders.recorder.max_notification_id() or 0) == newest:
                return
        raise AssertionError("the reactors did not settle")


def _relay_checkpoint(url: str, topic: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT notification_id FROM orderstream_relay_checkpoints WHERE topic = %s", (topic,)
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def scenario(make_pg_database, kafka_bootstrap, smtp_server, tmp_path) -> Iterator[Scenario]:
    db = make_pg_database()
    with fresh_topic(kafka_bootstrap) as topic:
        env = cli_env(
            event_store_url=db.url, read_model_url=db.url, kafka_bootstrap=kafka_bootstrap, topic=topic,
            ORDERS_SMTP_URL=smtp_server.url, ORDERS_PAYMENT_DECLINE_RATE="0.2",
        )
        settings = Settings(event_store_url=db.url, read_model_url=db.url, kafka_bootstrap=kafka_bootstrap, topic=topic)
        migrated(db.url)
        system = System(settings)
        log = tmp_path / "processes.log"
        s = Scenario(db, topic, env, system, smtp_server, restock(system.inventory, seed=11, quantity=30), log, [])
        try:
            s.start("relay", "run")
            wait_until(lambda: _topic_exists(kafka_bootstrap, topic), "the relay creates the topic",
                       alive=s.processes, log=log)
            started = run_cli(env, "reactors", "run", "--until-caught-up")  # every reactor starts at the head
            assert started.returncode == 0, started.stdout + started.stderr
            yield s
        finally:
            for process in s.processes:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(20)
                    except subprocess.TimeoutExpired:
                        process.kill()
            system.close()


def _topic_exists(bootstrap: str, topic: str) -> bool:
    try:
        return bool(end_offsets(bootstrap, topic))
    except Exception:  # noqa: BLE001 - not there yet
        return False


def mails_due(s: Scenario) -> int:
    return expected(s.system.orders, s.day).mails


def assert_stock_agrees(s: Scenario) -> None:
    want = expected(s.system.orders, s.day)
    stock = {sku: s.system.inventory.stock(sku) for sku in s.day.catalogue}
    assert {sku: v.reserved for sku, v in stock.items()} == want.reserved
    assert {sku: v.on_hand for sku, v in stock.items()} == want.on_hand


def assert_paid_at_most_once(s: Scenario) -> None:
    captures = Counter(
        order for (order,) in s.effects("SELECT aggregate_id FROM reactor_effects WHERE kind = 'payment_capture'")
    )
    assert max(captures.values(), default=0) <= 1
    confirmed_left = [o for o in s.day.order_ids if s.system.orders.get_order(o).status is OrderStatus.CONFIRMED]
    assert confirmed_left == []


def keep_placing(s: Scenario, stop: threading.Event, seed: int) -> threading.Thread:
    """Orders keep coming (a few at a time) until ``stop``."""

    def place() -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            s.place(rng.randint(0, 10**6), 3)
            stop.wait(0.3)

    thread = threading.Thread(target=place, daemon=True)
    thread.start()
    return thread


def dispatched(s: Scenario) -> int:
    return int(s.effects("SELECT count(*) FROM reactor_effects WHERE status = 'dispatched'")[0][0])


# --------------------------------------------------------------- the tests


@pytest.mark.timeout(420)
def test_a_reactor_runner_sigkilled_five_times_loses_nothing_and_duplicates_at_most_one_mail_per_kill(scenario):
    s = scenario
    stop = threading.Event()
    writer = keep_placing(s, stop, seed=1)
    rng = random.Random(7)
    kills = 0
    try:
        for _ in range(5):
            before = dispatched(s)
            runner = s.start("reactors", "run")
            wait_until(lambda b=before: dispatched(s) > b, "the reactor runner delivers", alive=[runner], log=s.log,
                       timeout=90)
            time.sleep(rng.uniform(0.1, 1.5))
            runner.kill()
            runner.wait(10)
            kills += 1
    finally:
        stop.set()
        writer.join()
    s.finish()
    ids = s.smtp.message_ids()
    assert len(set(ids)) == mails_due(s)
    assert len(ids) - len(set(ids)) <= kills
    assert_stock_agrees(s)
    assert_paid_at_most_once(s)


@pytest.mark.timeout(300)
def test_two_runners_in_one_group_one_killed_lose_nothing(scenario):
    s = scenario
    stop = threading.Event()
    writer = keep_placing(s, stop, seed=2)
    try:
        first, second = s.start("reactors", "run"), s.start("reactors", "run")
        wait_until(lambda: dispatched(s) > 10, "the runners deliver", alive=[first, second], log=s.log, timeout=90)
        first.kill()
        first.wait(10)
        before = dispatched(s)
        wait_until(lambda: dispatched(s) > before + 5, "the other runner carries on", alive=[second], log=s.log,
                   timeout=90)
    finally:
        stop.set()
        writer.join()
    s.finish()
    ids = s.smtp.message_ids()
    assert len(set(ids)) == mails_due(s)
    assert len(ids) - len(set(ids)) <= 1  # the one duplicate a kill between sending and marking can cause
    assert_stock_agrees(s)
    assert_paid_at_most_once(s)


@pytest.mark.timeout(300)
def test_mail_waits_while_the_smtp_server_is_down_and_is_all_delivered_after(scenario):
    s = scenario
    runner = s.start("reactors", "run")
    s.smtp.stop()
    s.place(seed=3, n=10)
    # Consumption goes on: the inventory reactor's reservations are made while mail waits.
    wait_until(lambda: int(s.effects(
        "SELECT count(*) FROM reactor_effects WHERE reactor = 'inventory' AND status = 'dispatched'")[0][0]) >= 10,
        "the inventory reactor keeps going", alive=[runner], log=s.log, timeout=60)
    time.sleep(30)
    waiting = int(s.effects(
        "SELECT count(*) FROM reactor_effects WHERE reactor = 'notification' AND status = 'pending'")[0][0])
    assert waiting >= 10 and s.smtp.received == []
    s.smtp.start()
    s.finish()
    assert len(set(s.smtp.message_ids())) == mails_due(s)


@pytest.mark.timeout(300)
def test_replaying_every_reactor_from_offset_zero_sends_nothing_and_changes_no_state(scenario):
    s = scenario
    s.place(seed=4, n=15)
    s.finish()
    mails, stock = list(s.smtp.message_ids()), {sku: s.system.inventory.stock(sku) for sku in s.day.catalogue}
    outbox = s.effects("SELECT key, status FROM reactor_effects ORDER BY key")
    for name in ("inventory", "payment", "notification"):
        done = run_cli(s.env, "reactors", "replay", name, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    s.finish()
    assert s.smtp.message_ids() == mails
    assert {sku: s.system.inventory.stock(sku) for sku in s.day.catalogue} == stock
    assert s.effects("SELECT key, status FROM reactor_effects ORDER BY key") == outbox


@pytest.mark.timeout(300)
def test_a_new_reactor_sends_history_only_when_told_and_then_exactly_once(scenario, make_pg_database):
    s = scenario
    s.place(seed=5, n=12)
    s.finish()
    sent = len(s.smtp.message_ids())
    # A second read-model database: the notification reactor there is new, the log has history.
    other = make_pg_database()
    migrated(other.url)
    env = {**s.env, "ORDERS_READ_MODEL_URL": other.url}
    assert run_cli(env, "reactors", "run", "notification", "--until-caught-up").returncode == 0
    assert len(s.smtp.message_ids()) == sent  # nothing for the past
    other2 = make_pg_database()
    migrated(other2.url)
    env2 = {**s.env, "ORDERS_READ_MODEL_URL": other2.url}
    done = run_cli(env2, "reactors", "run", "notification", "--until-caught-up", "--from-beginning", "--send-history")
    assert done.returncode == 0, done.stdout + done.stderr
    history = s.smtp.message_ids()[sent:]
    assert len(history) == len(set(history)) == mails_due(s)
