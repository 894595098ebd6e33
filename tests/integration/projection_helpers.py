"""Shared helpers of the projection crash, group and poison tests (real Kafka and PostgreSQL).

Processes: ``orders ...`` is run as a separate process (``start_cli``/``run_cli``)
with ``ORDERS_*`` variables only, exactly as an operator would run it;
``PYTHONPATH`` holds the checkout so that ``ORDERS_PROJECTIONS`` can name the
test plugins under ``tests/plugins``.

Exactness: :func:`snapshot` reads every table of the given projections (their
``<name>_versions`` tables included), each ordered by primary key; two read
models are exact copies when their snapshots are equal. :func:`reference_read_model`
builds the reference with the embedded source (the event store's log, no
Kafka), a path independent of the topic, the consumer group and the kill points.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from sqlalchemy import func, select

from adapters import runner
from adapters.config import Settings
from adapters.kafka.source import group_id
from adapters.sql import schema
from adapters.sql.engines import create_read_model_engine
from projections import BUILT_IN
from projections.contract import Projection
from tests.integration.conftest import (
    _create_database,
    _delete_topics,
    _drop_database,
    run_sync,
)
from tests.systems import migrate, system_for

ROOT = Path(__file__).resolve().parents[2]
ORDERS_CLI = str(ROOT / ".venv" / "bin" / "orders")

Snapshot = dict[str, list[tuple[Any, ...]]]


# ------------------------------------------------------------------ processes


def cli_env(
    *,
    event_store_url: str,
    read_model_url: str,
    kafka_bootstrap: str = "",
    topic: str = "",
    **extra: str,
) -> dict[str, str]:
    """The environment of an ``orders`` process: this one's, minus every ORDERS_* but these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env.update(
        ORDERS_EVENT_STORE_URL=event_store_url,
        ORDERS_READ_MODEL_URL=read_model_url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if kafka_bootstrap:
        env.update(ORDERS_KAFKA_BOOTSTRAP=kafka_bootstrap, ORDERS_TOPIC=topic)
    return env


def start_cli(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """``orders ARGS`` as a separate process, its stdout and stderr appended to ``log``."""
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([ORDERS_CLI, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ORDERS_CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def publish_with_relay(event_store_url: str, bootstrap: str, topic: str) -> None:
    """``orders relay run --once``: every event in the store, to ``topic`` (created if absent)."""
    env = cli_env(event_store_url=event_store_url, read_model_url="sqlite:///unused.db",
                  kafka_bootstrap=bootstrap, topic=topic)
    done = run_cli(env, "relay", "run", "--once")
    assert done.returncode == 0, done.stderr


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.05,
               alive: Sequence[subprocess.Popen] = (), log: Path | None = None) -> Any:
    """Poll ``condition`` until it is truthy (returned); fail after ``timeout`` or if a process in ``alive`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for process in alive:
            if process.poll() is not None:
                raise AssertionError(f"{what}: process exited with {process.returncode}\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s\n{_tail(log)}")
        time.sleep(every)


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-4000:]


# ------------------------------------------------------------------ databases


@contextmanager
def fresh_database(pg_url: str) -> Iterator[str]:
    """A new PostgreSQL database (its postgresql:// URL) for as long as the block lasts."""
    db = _create_database(pg_url)
    try:
        yield db.url
    finally:
        _drop_database(pg_url, db.dbname)


@contextmanager
def fresh_topic(bootstrap: str) -> Iterator[str]:
    """A topic name nobody uses; deleted afterwards if something created it."""
    topic = f"test.{uuid.uuid4().hex[:12]}"
    try:
        yield topic
    finally:
        try:
            run_sync(lambda: _delete_topics(bootstrap, [topic]))
        except Exception:  # noqa: BLE001 - never created (a failed fixture), nothing to delete
            pass


def migrated(read_model_url: str, projections: Sequence[type[Projection]] = ()) -> Settings:
    """``orders db upgrade`` on ``read_model_url`` (built-ins plus ``projections``)."""
    settings = Settings(read_model_url=read_model_url)
    migrate(settings, list(projections))
    return settings


def reference_read_model(event_store_url: str, read_model_url: str,
                         projections: Sequence[type[Projection]] = BUILT_IN) -> Snapshot:
    """The read model the embedded source builds from the event store: the expected tables."""
    settings = Settings(event_store_url=event_store_url, read_model_url=read_model_url)
    migrate(settings, list(projections))
    stats = runner.run_until_caught_up(system_for(settings), list(projections))
    assert not stats.halted, stats.halted
    return snapshot(read_model_url, projections)


def snapshot(read_model_url: str, projections: Iterable[type[Projection]] = BUILT_IN) -> Snapshot:
    """Every row of every table of ``projections`` (live), ordered by primary key."""
    engine = create_read_model_engine(read_model_url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for projection in projections
                for table in projection.tables()
            }
    finally:
        engine.dispose()


def differences(got: Snapshot, expected: Snapshot) -> list[str]:
    """What differs, table by table (an empty list: exact)."""
    out = []
    for name in sorted(set(got) | set(expected)):
        g, e = got.get(name, []), expected.get(name, [])
        if g != e:
            missing, extra = set(e) - set(g), set(g) - set(e)
            out.append(f"{name}: {len(g)} rows, expected {len(e)}; {len(missing)} missing, {len(extra)} "
                       f"unexpected, e.g. missing {sorted(missing, key=str)[:2]} "
                       f"unexpected {sorted(extra, key=str)[:2]}")
    return out


def live_offsets(read_model_url: str, projections: Iterable[str] | None = None) -> dict[tuple[str, int], int]:
    """(projection, partition) -> next offset, of the live checkpoints."""
    c = schema.checkpoints.c
    query = select(c.projection, c.partition, c.next_offset).where(c.target == schema.Target.LIVE)
    if projections is not None:
        query = query.where(c.projection.in_(list(projections)))
    engine = create_read_model_engine(read_model_url)
    try:
        with engine.connect() as conn:
            return {(p, int(part)): int(o) for p, part, o in conn.execute(query)}
    finally:
        engine.dispose()


def live_progress(read_model_url: str) -> int:
    """The sum of every live checkpoint: grows by one per message consumed."""
    engine = create_read_model_engine(read_model_url)
    try:
        with engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(schema.checkpoints.c.next_offset), 0)).where(
                    schema.checkpoints.c.target == schema.Target.LIVE
                )
            ).scalar_one()
        return int(total)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- Kafka


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async def ends() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer._client.add_topic(topic)  # noqa: SLF001 - as the relay tests do
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(topic) or set()
            assert parts, f"topic {topic} does not exist"
            found = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            return {tp.partition: int(o) for tp, o in found.items()}
        finally:
            await consumer.stop()

    return run_sync(ends)


@dataclass(frozen=True)
class Member:
    member_id: str
    partitions: frozenset[int]  # of the topic asked about


def group_members(bootstrap: str, projection: str, topic: str) -> list[Member]:
    """The members of ``projection``'s consumer group that own partitions of ``topic``, and which.

    Only a stable group is described (a group in the middle of a rebalance
    has no assignment yet): an empty list then.
    """

    async def describe() -> list[Member]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            [response] = await admin.describe_consumer_groups([group_id(projection, topic)])
        finally:
            await admin.close()
        [group] = response.to_object()["groups"]
        assert group["error_code"] == 0, group
        if group["state"] != "Stable":
            return []
        members = []
        for m in group["members"]:
            assignment = ConsumerProtocolMemberAssignment.decode(m["member_assignment"])
            mine = frozenset(p for t, parts in assignment.assignment if t == topic for p in parts)
            if mine:
                members.append(Member(m["member_id"], mine))
        return members

    return run_sync(describe)


def publish(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
    """Send (key, value) messages in this order with one idempotent producer; their (partition, offset)."""

    async def send() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            sent = [await producer.send(topic, value=value, key=key) for key, value in messages]
            await producer.flush()
            return [((m := await s).partition, m.offset) for s in sent]
        finally:
            await producer.stop()

    return run_sync(send)
