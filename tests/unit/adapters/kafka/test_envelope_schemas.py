"""docs/schemas: one JSON Schema per Order event type, and real messages match them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from adapters.relay.messages import encoder_for, messages_of
from domain.records import EVENT_TYPES
from tests.unit.adapters.notifications import in_memory_orders, notifications, one_of_each

SCHEMAS = Path(__file__).resolve().parents[4] / "docs" / "schemas"


def _schema(event_type: str) -> dict:
    return json.loads((SCHEMAS / f"{event_type}.schema.json").read_text())


def _published() -> list[dict]:
    orders = in_memory_orders()
    one_of_each(orders)
    return [json.loads(m.value) for m in messages_of(notifications(orders), encoder_for(orders))]


def test_there_is_exactly_one_schema_per_event_type():
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(f"{t}.schema.json" for t in EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_each_schema_is_a_valid_json_schema(event_type):
    Draft202012Validator.check_schema(_schema(event_type))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_published_events_of_each_type_match_their_schema(event_type):
    bodies = [b for b in _published() if b["event_type"] == event_type]
    assert bodies, f"the scenario publishes no {event_type}"
    validator = Draft202012Validator(_schema(event_type), format_checker=Draft202012Validator.FORMAT_CHECKER)
    for body in bodies:
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], body


def test_a_schema_rejects_a_message_of_another_shape():
    body = next(b for b in _published() if b["event_type"] == "Order.Paid")
    body["data"]["amount"] = 14.7  # money is never a JSON number
    assert not Draft202012Validator(_schema("Order.Paid")).is_valid(body)
