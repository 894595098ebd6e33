"""SIGKILL the projection runner and the rebuild on Kafka + PostgreSQL: tables stay exact.

Readers never see a half-built table.

One history for the module: a simulated day (400 orders, ~2,200 events) in a
PostgreSQL event store, published by ``orders relay run --once`` twice: to
``earlier`` after the first 280 orders, and to ``topic`` once all 400 are in.
The expected tables are what the embedded source builds from the same event
store (no Kafka, no kills).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import create_engine, select

from adapters import runner
from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.sql.engines import sqlalchemy_url
from projections.order_summary import OrderSummary
from tests.integration.projection_helpers import (
    Snapshot,
    cli_env,
    differences,
    end_offsets,
    fresh_database,
    fresh_topic,
    live_progress,
    migrated,
    publish_with_relay,
    reference_read_model,
    run_cli,
    snapshot,
    start_cli,
    wait_until,
)
from tests.systems import system_for

TEST_APPLICATION = "orderstream-test"  # application_name of the test's own connections
LIVE_LOCK = "orderstream.projection:order_summary:live"  # what a live batch of order_summary holds


@dataclass(frozen=True)
class History:
    event_store_url: str
    earlier: str  # topic holding the first 280 orders' events
    topic: str  # topic holding every event
    messages: int  # in ``topic``
    reference: Snapshot  # every built-in table, built by the embedded source


@pytest.fixture(scope="module")
def history(pg_database, pg_url, kafka_bootstrap) -> Iterator[History]:
    url = pg_database.url
    orders = open_orders(Settings(event_store_url=url))
    try:
        with fresh_topic(kafka_bootstrap) as earlier, fresh_topic(kafka_bootstrap) as topic:
            simulate_day(orders, n_orders=280, n_customers=80, seed=21)
            publish_with_relay(url, kafka_bootstrap, earlier)
            simulate_day(orders, n_orders=120, n_customers=80, seed=22)
            publish_with_relay(url, kafka_bootstrap, topic)
            with fresh_database(pg_url) as reference_db:
                reference = reference_read_model(url, reference_db)
            messages = sum(end_offsets(kafka_bootstrap, topic).values())
            assert messages == orders.recorder.max_notification_id()
            yield History(url, earlier, topic, messages, reference)
    finally:
        orders.close()


def only(projection, tables: Snapshot) -> Snapshot:
    return {t.name: tables[t.name] for t in projection.tables()}


# ------------------------------------------------------------------ catch-up


@pytest.mark.timeout(120)
def test_a_runner_sigkilled_at_random_points_of_its_catch_up_ends_with_exact_tables(
    history, make_pg_database, kafka_bootstrap, tmp_path
):
    db = make_pg_database()
    migrated(db.url)
    env = cli_env(event_store_url=history.event_store_url, read_model_url=db.url,
                  kafka_bootstrap=kafka_bootstrap, topic=history.topic)
    everything = 3 * history.messages  # three projections, each reads every message
    log = tmp_path / "runner.log"
    rng = random.Random(5)
    kills_mid_stream = 0
    # Three kills, not more: after each, the restarted runner waits for Kafka to
    # expire the killed member (session timeout 10s, not configurable in the runner).
    for _ in range(3):
        before = live_progress(db.url)
        # Small batches: many transactions, so a kill can fall between or inside any of them.
        process = start_cli(env, "projections", "run", "--until-caught-up", "--batch-size", "5", log=log)
        # Killed at a random point of what is left: how far, not how long (a fast
        # machine finishes within a fixed sleep).
        target = before + max(1, int(rng.uniform(0.1, 0.6) * (everything - before)))
        wait_until(
            lambda target=target: live_progress(db.url) >= target, "the runner applies events", alive=[process],
            log=log, every=0.01,
        )
        process.kill()
        process.wait(10)
        kills_mid_stream += live_progress(db.url) < everything

    done = run_cli(env, "projections", "run", "--until-caught-up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert kills_mid_stream == 3, "the kills should interrupt the catch-up, not a finished runner"
    assert live_progress(db.url) == everything
    assert differences(snapshot(db.url), history.reference) == []


# ------------------------------------------------------------------- rebuild


class Reader(threading.Thread):
    """Reads the live ``order_summary`` table over and over, as a reader of the read model would.

    ``seen`` lists what each read returned: "old", "new", or a description
    of anything else (a partial or empty table, an error).
    """

    def __init__(self, url: str, old: list[tuple], new: list[tuple]) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(sqlalchemy_url(url), connect_args={"application_name": TEST_APPLICATION})
        self.old, self.new = old, new
        self.seen: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        table = OrderSummary.orders
        query = select(table).order_by(*table.primary_key.columns)
        while not self.stop.is_set():
            try:
                with self.engine.connect() as conn:
                    rows = [tuple(r) for r in conn.execute(query)]
            except Exception as e:  # noqa: BLE001 - recorded: a reader must never get an error
                self.seen.append(f"error: {type(e).__name__}: {e}")
                continue
            if rows == self.old:
                self.seen.append("old")
            elif rows == self.new:
                self.seen.append("new")
            else:
                self.seen.append(
                    f"{len(rows)} rows, neither the old table ({len(self.old)}) nor the new ({len(self.new)})"
                )
        self.engine.dispose()

    def phases(self) -> list[str]:
        """``seen`` with repeats collapsed: ["old", "new"] for one clean switch."""
        out: list[str] = []
        for s in self.seen:
            if not out or out[-1] != s:
                out.append(s)
        return out

    def __enter__(self) -> Reader:
        self.start()
        wait_until(lambda: self.seen, "the reader reads")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(10)


def build_old_tables(history: History, read_model_url: str, kafka_bootstrap: str) -> list[tuple]:
    migrated(read_model_url)
    settings = Settings(read_model_url=read_model_url, kafka_bootstrap=kafka_bootstrap, topic=history.earlier)
    stats = runner.run_until_caught_up(system_for(settings), [OrderSummary])
    assert not stats.halted
    return snapshot(read_model_url, [OrderSummary])[OrderSummary.orders.name]


def other_clients(url: str) -> list[tuple[str | None, str | None]]:
    """(wait_event_type, wait_event) of each connection to this database that is not the test's own."""
    with psycopg.connect(url, application_name=TEST_APPLICATION) as conn:
        return conn.execute(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' "
            "AND application_name <> %s",
            (TEST_APPLICATION,),
        ).fetchall()


@pytest.mark.timeout(90)
def test_sigkilled_rebuilds_leave_the_old_read_model_serving_until_one_switch_to_exact_tables(
    history, make_pg_database, kafka_bootstrap, tmp_path
):
    db = make_pg_database()
    old = build_old_tables(history, db.url, kafka_bootstrap)
    expected = only(OrderSummary, history.reference)
    new = expected[OrderSummary.orders.name]
    assert len(old) < len(new)
    env = cli_env(event_store_url=history.event_store_url, read_model_url=db.url,
                  kafka_bootstrap=kafka_bootstrap, topic=history.topic)
    log = tmp_path / "rebuild.log"
    rng = random.Random(8)
    kills_before_the_switch = 0
    with Reader(db.url, old, new) as reader:
        for _ in range(4):
            process = start_cli(env, "projections", "rebuild", "order_summary", log=log)
            # Once connected (imports done) a first attempt takes ~0.9s here to
            # switch; a resumed one less.
            wait_until(lambda: other_clients(db.url), "the rebuild connects", alive=[process], log=log, every=0.01)
            time.sleep(rng.uniform(0.0, 0.8))
            process.kill()
            process.wait(10)
            time.sleep(0.05)  # a read that began before the kill has ended
            kills_before_the_switch += reader.seen[-1] == "old"
        done = run_cli(env, "projections", "rebuild", "order_summary")
        time.sleep(0.2)  # the reader reads the switched table a few times
    assert done.returncode == 0, done.stdout + done.stderr
    assert kills_before_the_switch >= 1, "the kills should interrupt rebuilds, not follow finished ones"
    assert reader.phases() == ["old", "new"]
    assert differences(snapshot(db.url, [OrderSummary]), expected) == []


@pytest.mark.timeout(60)
def test_a_rebuild_killed_while_waiting_to_switch_completes_when_run_again(
    history, make_pg_database, kafka_bootstrap, tmp_path
):
    db = make_pg_database()
    build_old_tables(history, db.url, kafka_bootstrap)
    env = cli_env(event_store_url=history.event_store_url, read_model_url=db.url,
                  kafka_bootstrap=kafka_bootstrap, topic=history.topic)
    log = tmp_path / "rebuild.log"
    # A live batch of order_summary holds its lock: the rebuild replays, builds
    # its indexes, and then waits to switch. It is killed there.
    with psycopg.connect(db.url, application_name=TEST_APPLICATION) as live_batch:
        live_batch.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LIVE_LOCK,))
        process = start_cli(env, "projections", "rebuild", "order_summary", log=log)
        wait_until(lambda: ("Lock", "advisory") in other_clients(db.url), "the rebuild waits to switch",
                   alive=[process], log=log)
        process.kill()
        process.wait(10)
        live_batch.rollback()
    done = run_cli(env, "projections", "rebuild", "order_summary")
    assert done.returncode == 0, done.stdout + done.stderr
    assert differences(snapshot(db.url, [OrderSummary]), only(OrderSummary, history.reference)) == []
