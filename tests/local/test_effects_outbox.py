"""Recording effects in the outbox (``adapters.sql.effects.record_effects``), at the driver level.

A contract on every read-model database: run here on SQLite, and on
PostgreSQL by tests/integration/contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from adapters.config import Settings
from adapters.sql.effects import RecordedEffect, claim_due, record_effects
from adapters.sql.engines import create_read_model_engine
from adapters.sql.schema import EffectStatus, reactor_effects
from adapters.sql.state import now
from tests.systems import migrate

ORDER = "5f0c8a3e-2d4b-4c1e-9a7f-0b6d3e2c1a90"


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[Engine]:
    migrate(backend_settings)
    engine = create_read_model_engine(backend_settings.read_model_url, writer=True)
    yield engine
    engine.dispose()


def effect(n: int, status: EffectStatus = EffectStatus.PENDING, payload: str = '{"n":0}') -> RecordedEffect:
    return RecordedEffect(
        key=f"greeter:event-{n}:0",
        reactor="greeter",
        kind="email",
        payload=payload,
        status=status,
        event_id=f"event-{n}",
        aggregate_id=ORDER,
        partition=n % 3,
        offset=100 + n,
    )


def stored(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(reactor_effects).order_by(reactor_effects.c.id)).mappings().all()
    return [dict(row) for row in rows]


def utc_naive(t: datetime) -> datetime:
    """A time read back (aware on PostgreSQL, naive UTC on SQLite) as naive UTC."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def test_recorded_effects_are_stored_with_their_values(engine):
    before = now()
    with engine.begin() as conn:
        record_effects(conn, [effect(1, EffectStatus.SUPPRESSED, payload='{"to":"ä@example.invalid"}')])
    [row] = stored(engine)
    assert {k: row[k] for k in ("key", "reactor", "kind", "payload", "status", "event_id", "aggregate_id")} == {
        "key": "greeter:event-1:0",
        "reactor": "greeter",
        "kind": "email",
        "payload": '{"to":"ä@example.invalid"}',
        "status": EffectStatus.SUPPRESSED,
        "event_id": "event-1",
        "aggregate_id": ORDER,
    }
    assert (row["source_partition"], row["source_offset"], row["attempts"]) == (1, 101, 0)
    assert (row["claimed_until"], row["dispatched_at"], row["last_error"], row["outcome"]) == (None,) * 4
    created = utc_naive(row["created_at"])
    assert utc_naive(before) - timedelta(seconds=1) <= created <= utc_naive(now()) + timedelta(seconds=1)
    assert row["next_attempt_at"] == row["created_at"]


def test_effects_recorded_together_are_numbered_in_the_order_given(engine):
    order = [5, 2, 9, 1, 7]
    with engine.begin() as conn:
        record_effects(conn, [effect(n) for n in order])
    assert [row["key"] for row in stored(engine)] == [f"greeter:event-{n}:0" for n in order]


def test_recording_a_key_again_keeps_the_first_record(engine):
    with engine.begin() as conn:
        record_effects(conn, [effect(1, EffectStatus.PENDING, payload='{"first":1}')])
    with engine.begin() as conn:
        record_effects(conn, [effect(1, EffectStatus.SUPPRESSED, payload='{"again":1}'), effect(2)])
    rows = stored(engine)
    assert [(r["key"], r["status"], r["payload"]) for r in rows] == [
        ("greeter:event-1:0", EffectStatus.PENDING, '{"first":1}'),
        ("greeter:event-2:0", EffectStatus.PENDING, '{"n":0}'),
    ]


def test_more_effects_than_one_chunk_are_all_recorded_in_order(engine, monkeypatch):
    monkeypatch.setattr("adapters.sql.effects.UPSERT_CHUNK", 3)
    with engine.begin() as conn:
        record_effects(conn, [effect(n) for n in range(8)])
    assert [row["key"] for row in stored(engine)] == [f"greeter:event-{n}:0" for n in range(8)]


def test_a_recorded_pending_effect_is_due_at_once(engine):
    with engine.begin() as conn:
        record_effects(conn, [effect(1), effect(2, EffectStatus.SUPPRESSED)])
    with engine.begin() as conn:
        claimed = claim_due(conn, 10, timedelta(seconds=30))
    assert [c.key for c in claimed] == ["greeter:event-1:0"]
