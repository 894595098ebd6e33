"""Error policies on the embedded source: halt, dead-letter, retry, skip, poison messages."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from adapters import runner
from adapters.sql import schema
from adapters.sql.engines import create_read_model_engine
from tests.local.projection_kit import (
    OrderEvents,
    counts,
    expected_counts,
    simulate,
)
from tests.systems import system_for


def dead_letters(settings) -> list[dict]:
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        query = select(schema.dead_letters).order_by(schema.dead_letters.c.id)
        rows = [dict(r) for r in conn.execute(query).mappings()]
    engine.dispose()
    return rows


def second_event_of_an_order(orders):
    """An order with at least 3 events, and the record of its 2nd."""
    for order, n in expected_counts(orders).items():
        if n >= 3:
            return order, orders.order_history(order)[1]
    raise AssertionError("no order with 3 events")


@pytest.fixture
def dead_letter_policy(monkeypatch):
    monkeypatch.setattr(OrderEvents, "error_policy", "dead-letter")


def test_a_halt_projection_stops_at_the_failing_event_and_says_so(migrated, orders):
    simulate(orders)
    order, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    [status] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert status.state == "halted"
    assert status.failing_event == failing.event_id
    assert "cannot count" in status.last_error
    assert "order_events" in stats.halted and f"--event {failing.event_id}" in stats.halted["order_events"]
    assert counts(migrated)[order] == 1
    assert status.lag > 0


def test_a_halted_projection_does_not_run_until_resolved(migrated, orders):
    simulate(orders)
    _, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    OrderEvents.fail_on.clear()
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert stats.events == 0 and "order_events" in stats.halted


def test_retry_resumes_a_halted_projection_from_the_failing_event(migrated, orders):
    simulate(orders)
    _, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    OrderEvents.fail_on.clear()
    result = runner.retry(system_for(migrated, orders), OrderEvents)
    assert result.resumed and not result.run.halted
    assert counts(migrated) == expected_counts(orders)
    [status] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert (status.state, status.lag) == ("running", 0)


def test_skip_moves_a_halted_projection_past_the_event_and_records_it(migrated, orders):
    simulate(orders)
    order, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    runner.skip(system_for(migrated, orders), OrderEvents, failing.event_id)
    expected = expected_counts(orders)
    expected[order] -= 1
    assert counts(migrated) == expected
    [letter] = dead_letters(migrated)
    assert (letter["event_id"], letter["status"]) == (failing.event_id, "skipped")


def test_skipping_an_event_that_did_not_fail_is_refused(migrated, orders):
    simulate(orders, n_orders=3)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    with pytest.raises(runner.ConfigurationError, match="no failed message 'nope'"):
        runner.skip(system_for(migrated, orders), OrderEvents, "nope")


def test_dead_letter_parks_the_order_while_other_orders_flow(migrated, orders, dead_letter_policy):
    simulate(orders)
    order, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    expected = expected_counts(orders)
    parked = expected.pop(order) - 2
    got = counts(migrated)
    assert got.pop(order) == 1
    assert got == expected
    assert (stats.dead, stats.parked) == (1, parked)
    [status] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert status.dead_letters == {"dead": 1, "parked": parked}
    assert (status.state, status.lag) == ("running", 0)


def test_events_of_a_parked_order_arriving_later_are_parked_too(migrated, orders, dead_letter_policy):
    order = orders.place_order("customer-1", [("SKU-1", 1, "5.00")])
    orders.add_line(order, "SKU-2", 1, "3.00")
    OrderEvents.fail_on.add(orders.order_history(order)[1].event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    orders.remove_line(order, "SKU-1")
    stats = runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    assert stats.parked == 1
    assert counts(migrated)[str(order)] == 1


def test_retry_applies_dead_letters_in_order_once_the_cause_is_fixed(migrated, orders, dead_letter_policy):
    simulate(orders)
    _, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    OrderEvents.fail_on.clear()
    result = runner.retry(system_for(migrated, orders), OrderEvents)
    assert (result.still_dead, result.still_parked) == (0, 0)
    assert counts(migrated) == expected_counts(orders)
    assert {d["status"] for d in dead_letters(migrated)} == {"applied"}


def test_retry_that_fails_again_keeps_the_letters(migrated, orders, dead_letter_policy):
    simulate(orders)
    order, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    result = runner.retry(system_for(migrated, orders), OrderEvents)
    assert result.still_dead == 1 and result.applied == 0
    assert counts(migrated)[order] == 1


def test_skipping_a_dead_letter_applies_the_events_parked_behind_it(migrated, orders, dead_letter_policy):
    simulate(orders)
    order, failing = second_event_of_an_order(orders)
    OrderEvents.fail_on.add(failing.event_id)
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    runner.skip(system_for(migrated, orders), OrderEvents, failing.event_id)
    assert counts(migrated)[order] == expected_counts(orders)[order] - 1
    assert [d["status"] for d in dead_letters(migrated) if d["event_id"] == failing.event_id] == ["skipped"]


def test_a_poison_message_halts_a_halt_projection(migrated, orders):
    simulate(orders, n_orders=3)
    orders.recorder.insert_events([StoredEvent(uuid4(), 1, "Order.Teleported", b"{}")])
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    [status] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert status.state == "halted"
    assert "unknown event type 'Order.Teleported'" in status.last_error
    assert status.failing_event == f"0:{orders.recorder.max_notification_id()}"


def test_a_poison_message_is_dead_lettered_and_blocks_its_order(migrated, orders, dead_letter_policy):
    simulate(orders, n_orders=3)
    stranger = uuid4()
    orders.recorder.insert_events([StoredEvent(stranger, 1, "Order.Teleported", b"{}")])
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    [letter] = dead_letters(migrated)
    assert (letter["aggregate_id"], letter["status"], letter["event_id"]) == (str(stranger), "dead", None)
    assert counts(migrated) == {k: v for k, v in expected_counts(orders).items() if k != str(stranger)}
