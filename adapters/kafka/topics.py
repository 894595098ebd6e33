"""Provisioning of the event topic: create it with infinite retention, or check it.

The topic is the system's replayable history: new projections and rebuilds
read it from offset zero. It is therefore created with ``retention.ms=-1``,
``retention.bytes=-1`` and ``cleanup.policy=delete`` (never ``compact``, which
keeps only the newest event per order). A topic that already exists with
settings that drop history is refused, unless the operator overrides that
explicitly (``ORDERS_ALLOW_FINITE_RETENTION=yes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

log = logging.getLogger(__name__)

TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
CHECKED_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy")
TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC_OR_PARTITION = 3


class FiniteRetentionError(RuntimeError):
    """The topic exists but would delete history that replays need."""


class TopicProvisioningError(RuntimeError):
    """The broker refused to create or describe the topic (not a connection problem)."""


@dataclass(frozen=True)
class TopicState:
    name: str
    created: bool
    partitions: int
    config: dict[str, str]


def history_loss(config: Mapping[str, str]) -> str | None:
    """Why a topic with ``config`` would lose history, or None when it keeps all of it."""
    reasons = []
    retention_ms = config.get("retention.ms", "-1")
    if retention_ms.strip() != "-1":
        reasons.append(f"retention.ms={retention_ms}")
    retention_bytes = config.get("retention.bytes", "-1")
    if retention_bytes.strip() != "-1":
        reasons.append(f"retention.bytes={retention_bytes}")
    policies = {p.strip() for p in config.get("cleanup.policy", "delete").split(",")}
    if "compact" in policies:
        reasons.append(f"cleanup.policy={config.get('cleanup.policy')}")
    return ", ".join(reasons) or None


def refusal_message(topic: str, reasons: str) -> str:
    return (
        f"topic {topic} has {reasons}: it would delete events, but projections replay the "
        "topic from offset zero and need the whole history; set retention.ms=-1, "
        "retention.bytes=-1 and cleanup.policy=delete on it, or set "
        "ORDERS_ALLOW_FINITE_RETENTION=yes to use it anyway"
    )


async def ensure_topic(
    bootstrap: str, topic: str, partitions: int, allow_finite_retention: bool = False
) -> TopicState:
    """Create ``topic`` if absent; refuse an existing one that drops history.

    Raises :class:`FiniteRetentionError` (unless ``allow_finite_retention``),
    :class:`TopicProvisioningError` for broker-side refusals, and aiokafka's
    connection errors when the broker cannot be reached (the caller retries).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="orderstream-relay-admin")
    await admin.start()
    try:
        created = await _create_if_absent(admin, topic, partitions)
        count = await _wait_for_leaders(admin, topic)
        config = await _describe_config(admin, topic)
        reasons = history_loss(config)
        if reasons:
            if not allow_finite_retention:
                raise FiniteRetentionError(refusal_message(topic, reasons))
            log.warning(
                "topic %s has %s; using it because finite retention is explicitly allowed "
                "(replays from offset zero will miss deleted events)",
                topic,
                reasons,
            )
        return TopicState(name=topic, created=created, partitions=count, config=config)
    finally:
        await admin.close()


async def _create_if_absent(admin: AIOKafkaAdminClient, topic: str, partitions: int) -> bool:
    (meta,) = await admin.describe_topics([topic])
    if meta["error_code"] == 0:
        return False
    if meta["error_code"] != UNKNOWN_TOPIC_OR_PARTITION:
        raise TopicProvisioningError(f"cannot describe topic {topic}: {for_code(meta['error_code']).__name__}")
    cluster = await admin.describe_cluster()
    replication = max(1, min(3, len(cluster.get("brokers") or [])))
    response = await admin.create_topics(
        [NewTopic(topic, partitions, replication, topic_configs=dict(TOPIC_CONFIG))]
    )
    for entry in response.to_object()["topic_errors"]:
        code = entry["error_code"]
        if code == TOPIC_ALREADY_EXISTS:
            return False  # another relay created it a moment ago
        if code != 0:
            raise TopicProvisioningError(
                f"cannot create topic {topic}: {for_code(code).__name__}: {entry.get('error_message')}"
            )
    log.info(
        "created topic %s (%d partitions, replication %d, retention.ms=-1, cleanup.policy=delete)",
        topic,
        partitions,
        replication,
    )
    return True


async def _describe_config(admin: AIOKafkaAdminClient, topic: str, timeout: float = 30.0) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(CHECKED_CONFIGS))]
        )
        codes = {r["error_code"] for resp in responses for r in resp.to_object()["resources"]}
        # A topic created a moment ago may not be known to the broker answering yet.
        if codes != {UNKNOWN_TOPIC_OR_PARTITION} or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    config: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise TopicProvisioningError(
                    f"cannot read the configuration of topic {topic}: "
                    f"{for_code(resource['error_code']).__name__}"
                )
            for entry in resource["config_entries"]:
                config[entry["config_names"]] = entry["config_value"]
    return config


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topic: str, timeout: float = 30.0) -> int:
    """Wait until every partition has a leader, so the first sends do not stall."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        (meta,) = await admin.describe_topics([topic])
        parts = meta.get("partitions") or []
        if meta["error_code"] == 0 and parts and all(p["leader"] >= 0 for p in parts):
            return len(parts)
        if asyncio.get_running_loop().time() > deadline:
            raise TopicProvisioningError(f"topic {topic} has partitions without a leader after {timeout:.0f}s")
        await asyncio.sleep(0.1)
