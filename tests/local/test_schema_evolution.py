"""History stored in an old event shape still loads, upcast to the current one."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.order import placement_fingerprint

V1_LINES = [{"sku": "SKU-1", "quantity": 2, "unit_price": Decimal("10.00")}]


@pytest.fixture
def v1_order_id(orders_app) -> UUID:
    """An order whose ``Order.Placed`` is stored as version 1 wrote it: no channel, no class_version."""
    order_id = uuid4()
    state = {
        "timestamp": datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc),
        "originator_topic": "Order",
        "customer_id": "customer-1",
        "currency": "EUR",
        "lines": V1_LINES,
        "idempotency_key": None,
        "fingerprint": placement_fingerprint("customer-1", "EUR", "web", V1_LINES),
    }
    orders_app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=order_id,
                originator_version=1,
                topic="Order.Placed",
                state=orders_app.mapper.transcoder.encode(state),
            )
        ]
    )
    return order_id


def test_the_stored_v1_event_has_no_channel_and_no_class_version(orders_app, v1_order_id):
    (stored,) = orders_app.recorder.select_events(v1_order_id)
    state = orders_app.mapper.transcoder.decode(stored.state)
    assert "channel" not in state and "class_version" not in state


def test_a_v1_placed_order_loads_with_the_web_channel(orders_app, v1_order_id):
    assert orders_app.get_order(v1_order_id).channel == "web"


def test_a_v1_placed_order_loads_its_lines(orders_app, v1_order_id):
    view = orders_app.get_order(v1_order_id)
    assert (view.total, view.placed_at) == (Decimal("20.00"), datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc))


def test_the_history_of_a_v1_order_is_in_the_current_schema(orders_app, v1_order_id):
    (placed,) = orders_app.order_history(v1_order_id)
    assert (placed.schema_version, placed.data["channel"]) == (2, "web")


def test_a_v1_placed_order_can_still_be_changed(orders_app, v1_order_id):
    orders_app.add_line(v1_order_id, "SKU-2", 1, "5.00")
    view = orders_app.get_order(v1_order_id)
    assert (view.version, view.total) == (2, Decimal("25.00"))


def test_new_placed_events_are_stored_at_class_version_2(orders_app):
    order_id = orders_app.place_order("customer-1", [("SKU-1", 1, "1.00")], channel="mobile")
    (stored,) = orders_app.recorder.select_events(order_id)
    state = orders_app.mapper.transcoder.decode(stored.state)
    assert (stored.topic, state["class_version"], state["channel"]) == ("Order.Placed", 2, "mobile")
