"""Poison messages, handler failures and version gaps through the real broker, resolved with the CLI.

The same failures on the embedded source are in tests/local/test_projection_errors.py;
here every message goes through Kafka (a topic with 6 partitions) into a
PostgreSQL read model, and the operator's side is the ``orders projections``
commands (run in-process, configured only by ORDERS_* variables).

Projections: ``order_summary`` (built in, ``halt``) and the plugin
``order_progress`` (tests/plugins/failing_projection, ``dead-letter``, its
handler fails where ORDERS_TEST_FAIL_EVENTS says).

A poison message is published as an *extra* message keyed by an order X,
right after X's first event: X's real events follow it in X's partition, so
once the poison is skipped the tables are exactly what the history gives.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.kafka.envelope import encode
from domain.records import EventRecord, record_of, schema_version_of
from projections.order_summary import OrderSummary
from tests.integration.projection_helpers import (
    Snapshot,
    differences,
    fresh_database,
    migrated,
    publish,
    reference_read_model,
    snapshot,
)
from tests.plugins.failing_projection import FAIL_EVENTS, OrderProgress

PLUGIN = "tests.plugins.failing_projection:OrderProgress"
POISON_KINDS = ("garbage-bytes", "unknown-event-type", "newer-schema-version")


@dataclass(frozen=True)
class Day:
    events: list[tuple[EventRecord, int]]  # (record, notification id), in log order
    order: str  # X: the order with the most events
    reference: Snapshot  # order_summary's and order_progress's tables, built by the embedded source

    def of_order(self) -> list[EventRecord]:
        return [r for r, _ in self.events if r.aggregate_id == self.order]


@pytest.fixture(scope="module")
def day(pg_url) -> Iterator[Day]:
    directory = Path(tempfile.mkdtemp())
    url = f"sqlite:///{directory / 'events.db'}"
    orders = open_orders(Settings(event_store_url=url))
    try:
        simulate_day(orders, n_orders=30, n_customers=8, seed=41)
        notes = orders.recorder.select_notifications(start=0, limit=100_000)
        events = [(record_of(orders.mapper.to_domain_event(n)), n.id) for n in notes]
    finally:
        orders.close()
    counts: dict[str, int] = {}
    for record, _ in events:
        counts[record.aggregate_id] = counts.get(record.aggregate_id, 0) + 1
    order = max(counts, key=lambda o: counts[o])
    assert counts[order] >= 4
    with fresh_database(pg_url) as reference_db:
        reference = reference_read_model(url, reference_db, [OrderSummary, OrderProgress])
    yield Day(events, order, reference)
    shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class ReadModel:
    url: str
    bootstrap: str
    topic: str


@pytest.fixture
def read_model(kafka_topic, kafka_bootstrap, make_pg_database, monkeypatch, tmp_path) -> ReadModel:
    """A migrated PostgreSQL read model fed by a fresh topic; the ``orders`` commands configured for it."""
    db = make_pg_database()
    migrated(db.url, [OrderProgress])
    for name, value in {
        "ORDERS_EVENT_STORE_URL": f"sqlite:///{tmp_path}/unused.db",
        "ORDERS_READ_MODEL_URL": db.url,
        "ORDERS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERS_TOPIC": kafka_topic,
        "ORDERS_PROJECTIONS": PLUGIN,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(FAIL_EVENTS, raising=False)
    return ReadModel(db.url, kafka_bootstrap, kafka_topic)


def orders_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``orders ARGS`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def status_of(capsys, name: str) -> dict:
    code, out, err = orders_cli(capsys, "projections", "status", "--json", name)
    assert code == 0, err
    [status] = json.loads(out)
    return status


def poison(kind: str, like: EventRecord) -> bytes:
    """A message value this code cannot decode, claiming to be ``like`` where it can."""
    if kind == "garbage-bytes":
        return b"\x00\xff\xfe not an event at all"
    body = json.loads(encode(like, 0).value)
    if kind == "unknown-event-type":
        body["event_type"] = "Order.Teleported"
    else:
        body["schema_version"] = schema_version_of(like.event_type) + 1
    return json.dumps(body).encode()


def expected_error(kind: str, like: EventRecord) -> str:
    return {
        "garbage-bytes": "message value is not JSON",
        "unknown-event-type": "unknown event type 'Order.Teleported'",
        "newer-schema-version": f"schema version {schema_version_of(like.event_type) + 1} is newer than this code",
    }[kind]


def publish_with_poison(read_model: ReadModel, day: Day, value: bytes) -> str:
    """The day's events with ``value`` keyed by X right after X's first event; the poison's PARTITION:OFFSET."""
    messages = []
    at = None
    for record, position in day.events:
        encoded = encode(record, position)
        messages.append((encoded.key, encoded.value))
        if record.aggregate_id == day.order and record.aggregate_version == 1:
            at = len(messages)
            messages.append((day.order.encode(), value))
    sent = publish(read_model.bootstrap, read_model.topic, messages)
    partition, offset = sent[at]
    return f"{partition}:{offset}"


def publish_day(read_model: ReadModel, day: Day, leave_out: set[str] = frozenset()) -> None:
    encoded = [encode(r, p) for r, p in day.events if r.event_id not in leave_out]
    publish(read_model.bootstrap, read_model.topic, [(e.key, e.value) for e in encoded])


def tables(read_model: ReadModel, projection) -> Snapshot:
    return snapshot(read_model.url, [projection])


def expected(day: Day, projection) -> Snapshot:
    return {t.name: day.reference[t.name] for t in projection.tables()}


def without_order(tables: Snapshot, order: str) -> Snapshot:
    return {name: [row for row in rows if row[0] != order] for name, rows in tables.items()}


# ----------------------------------------------------------------------- halt


@pytest.mark.timeout(40)
@pytest.mark.parametrize("kind", POISON_KINDS)
def test_a_poison_message_halts_the_projection_visibly_until_it_is_skipped(kind, day, read_model, capsys):
    like = day.of_order()[1]
    where = publish_with_poison(read_model, day, poison(kind, like))

    code, _, err = orders_cli(capsys, "projections", "run", "order_summary", "--until-caught-up")
    assert code == 1
    assert f"orders projections skip order_summary --event {where}" in err
    status = status_of(capsys, "order_summary")
    assert (status["state"], status["failing_event"]) == ("halted", where)
    assert expected_error(kind, like) in status["last_error"]
    assert status["lag"] > 0

    code, _, err = orders_cli(capsys, "projections", "skip", "order_summary", "--event", where)
    assert code == 0, err
    status = status_of(capsys, "order_summary")
    assert (status["state"], status["lag"], status["dead_letters"]) == ("running", 0, {"skipped": 1})
    assert differences(tables(read_model, OrderSummary), expected(day, OrderSummary)) == []


@pytest.mark.timeout(40)
def test_a_version_gap_on_the_topic_halts_the_projection_and_status_names_it(day, read_model, capsys):
    first, second, third = day.of_order()[:3]
    publish_day(read_model, day, leave_out={second.event_id})

    code, _, _ = orders_cli(capsys, "projections", "run", "order_summary", "--until-caught-up")
    assert code == 1
    status = status_of(capsys, "order_summary")
    assert (status["state"], status["failing_event"]) == ("halted", third.event_id)
    assert status["last_error"] == f"version gap for order {day.order}: expected version 2, got 3"


# ---------------------------------------------------------------- dead-letter


@pytest.mark.timeout(40)
@pytest.mark.parametrize("kind", POISON_KINDS)
def test_a_poison_message_parks_its_orders_later_events_while_other_orders_flow_until_it_is_skipped(
    kind, day, read_model, capsys
):
    later = len(day.of_order()) - 1
    where = publish_with_poison(read_model, day, poison(kind, day.of_order()[1]))

    code, _, err = orders_cli(capsys, "projections", "run", "order_progress", "--until-caught-up")
    assert code == 0, err
    status = status_of(capsys, "order_progress")
    assert (status["state"], status["lag"]) == ("running", 0)
    assert status["dead_letters"] == {"dead": 1, "parked": later}
    got = tables(read_model, OrderProgress)
    assert without_order(got, day.order) == without_order(expected(day, OrderProgress), day.order)
    assert [row[:3] for row in got["order_progress"] if row[0] == day.order] == [(day.order, 1, 1)]

    code, _, err = orders_cli(capsys, "projections", "skip", "order_progress", "--event", where)
    assert code == 0, err
    assert status_of(capsys, "order_progress")["dead_letters"] == {"skipped": 1, "applied": later}
    assert differences(tables(read_model, OrderProgress), expected(day, OrderProgress)) == []


@pytest.mark.timeout(40)
def test_retry_applies_a_failed_event_and_those_parked_behind_it_once_the_handler_is_fixed(
    day, read_model, capsys, monkeypatch
):
    failing = day.of_order()[1]
    parked = len(day.of_order()) - 2
    publish_day(read_model, day)
    monkeypatch.setenv(FAIL_EVENTS, f"{day.order}:{failing.aggregate_version}")

    code, _, err = orders_cli(capsys, "projections", "run", "order_progress", "--until-caught-up")
    assert code == 0, err
    status = status_of(capsys, "order_progress")
    assert status["dead_letters"] == {"dead": 1, "parked": parked}
    assert without_order(tables(read_model, OrderProgress), day.order) == without_order(
        expected(day, OrderProgress), day.order
    )

    monkeypatch.delenv(FAIL_EVENTS)  # the cause is fixed
    code, _, err = orders_cli(capsys, "projections", "retry", "order_progress")
    assert code == 0, err
    assert status_of(capsys, "order_progress")["dead_letters"] == {"applied": parked + 1}
    assert differences(tables(read_model, OrderProgress), expected(day, OrderProgress)) == []
