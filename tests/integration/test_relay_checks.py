"""Shared helpers of the relay's integration tests, and tests of the ordering check itself.

``key_order_problems`` states precisely what "a re-published tail never
reorders a key's history" means: reading a key's messages in offset order and
keeping only the first occurrence of each version, the versions read are
1, 2, 3, ... (each appears, none before a smaller one). Repeats after the first
occurrence are allowed (at-least-once).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
ORDERS_CLI = str(ROOT / ".venv" / "bin" / "orders")


@dataclass(frozen=True)
class Published:
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    body: dict


def key_order_problems(messages: Iterable[Published]) -> list[str]:
    """Every key whose first occurrences of versions are not exactly 1, 2, 3, ... in offset order."""
    per_key: dict[str, list[int]] = defaultdict(list)
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        per_key[m.key].append(m.body["aggregate_version"])
    problems = []
    for key, versions in per_key.items():
        first: list[int] = []
        for v in versions:
            if v not in first:
                first.append(v)
        if first != list(range(1, len(first) + 1)):
            problems.append(f"{key}: versions in offset order {versions}")
    return problems


def read_topic(bootstrap: str, topic: str) -> list[Published]:
    """Every message in ``topic`` (all partitions, from offset zero to the end)."""

    async def read() -> list[Published]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            consumer._client.add_topic(topic)  # noqa: SLF001 - as the smoke tests do
            await consumer._client.force_metadata_update()  # noqa: SLF001
            partitions = consumer.partitions_for_topic(topic)
            assert partitions, f"topic {topic} does not exist"
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)  # explicit: seek_to_committed skips offset 0 (aiokafka 1003)
            end = await consumer.end_offsets(tps)
            out: list[Published] = []
            async def behind() -> bool:
                return any([await consumer.position(tp) < end[tp] for tp in tps])

            while await behind():
                batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
                for tp, records in batches.items():
                    for r in records:
                        if r.offset < end[tp]:
                            out.append(
                                Published(
                                    partition=r.partition, offset=r.offset, key=r.key.decode(),
                                    headers={k: v.decode() for k, v in r.headers},
                                    body=json.loads(r.value),
                                )
                            )
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


def relay_env(event_store_url: str, bootstrap: str, topic: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env.update(
        ORDERS_EVENT_STORE_URL=event_store_url, ORDERS_KAFKA_BOOTSTRAP=bootstrap,
        ORDERS_TOPIC=topic, PYTHONUNBUFFERED="1", **extra,
    )
    return env


def start_relay(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """``orders relay run`` as a separate process, its stderr appended to ``log``."""
    return subprocess.Popen(
        [ORDERS_CLI, "relay", "run", *args], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=open(log, "ab"),  # noqa: SIM115 - the child owns it
    )


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ORDERS_CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def python() -> str:
    return sys.executable


# ---- the check itself (no broker needed, but it guards every test above) ----


def _m(key: str, version: int, offset: int, partition: int = 0) -> Published:
    return Published(partition, offset, key, {}, {"aggregate_version": version})


def test_a_repeated_tail_is_not_a_reordering():
    messages = [_m("a", v, o) for o, v in enumerate([1, 2, 3, 2, 3, 4])]
    assert key_order_problems(messages) == []


def test_a_version_first_seen_before_a_smaller_one_is_a_reordering():
    messages = [_m("a", v, o) for o, v in enumerate([1, 3, 2])]
    assert key_order_problems(messages) == ["a: versions in offset order [1, 3, 2]"]


def test_a_missing_version_is_reported():
    messages = [_m("a", v, o) for o, v in enumerate([1, 2, 4])]
    assert key_order_problems(messages) == ["a: versions in offset order [1, 2, 4]"]
