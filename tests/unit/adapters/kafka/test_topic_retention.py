"""Which existing topic configurations the relay refuses, and what it says."""

from __future__ import annotations

from adapters.kafka.topics import TOPIC_CONFIG, history_loss, refusal_message


def test_the_topic_the_relay_creates_keeps_all_history():
    assert history_loss(TOPIC_CONFIG) is None


def test_finite_retention_ms_loses_history():
    assert history_loss({"retention.ms": "604800000", "cleanup.policy": "delete"}) == "retention.ms=604800000"


def test_finite_retention_bytes_loses_history():
    assert history_loss({"retention.ms": "-1", "retention.bytes": "1073741824"}) == "retention.bytes=1073741824"


def test_compaction_loses_history():
    assert history_loss({"retention.ms": "-1", "cleanup.policy": "compact,delete"}) == "cleanup.policy=compact,delete"


def test_the_refusal_says_replays_need_the_whole_history_and_how_to_override():
    message = refusal_message("orders.events", "retention.ms=1000")
    assert "retention.ms=1000" in message
    assert "offset zero" in message and "whole history" in message
    assert "ORDERS_ALLOW_FINITE_RETENTION" in message
    assert "\n" not in message
