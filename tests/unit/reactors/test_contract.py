"""A reactor's handlers return effects; the framework keys and collects them (no I/O)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from sqlalchemy import MetaData

from domain.records import EventRecord
from projections.apply import Outcome, apply_batch
from projections.contract import Rows
from reactors.contract import (
    Command,
    Effect,
    Email,
    PaymentCapture,
    Reactor,
    effect_from_json,
    effect_json,
    reacts_to,
)
from tests.unit.projections.kit import ORDER_A, ORDER_B, DictRows, EventCounts, event, messages


class Greeter(Reactor):
    """Two effects per confirmed order; fails the first ``failures[event id]`` attempts."""

    name = "greeter"
    metadata = MetaData()
    failures: ClassVar[dict[str, int]] = {}

    @reacts_to("Order.Confirmed")
    def confirmed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        left = self.failures.get(event.event_id)
        if left:
            self.failures[event.event_id] = left - 1
            raise RuntimeError("flaky")
        return [
            Email(to=f"{event.aggregate_id}@example.invalid", subject="confirmed", body="thanks"),
            PaymentCapture(order_id=event.aggregate_id),
        ]

    @reacts_to("Order.Paid")
    def paid(self, rows: Rows, event: EventRecord) -> None:
        return None


def no_sleep(_seconds: float) -> None:
    pass


@pytest.fixture(autouse=True)
def no_failures():
    Greeter.failures = {}


def test_the_effects_a_handler_returns_are_kept_in_order_with_their_keys():
    reactor = Greeter()
    first = event(ORDER_A, 1)
    apply_batch(reactor, DictRows(), messages(first), sleep=no_sleep)
    reacted = reactor.take_effects()
    assert [r.key for r in reacted] == [f"greeter:{first.event_id}:0", f"greeter:{first.event_id}:1"]
    assert [type(r.effect) for r in reacted] == [Email, PaymentCapture]


def test_a_handler_that_returns_none_has_no_effects():
    reactor = Greeter()
    apply_batch(reactor, DictRows(), messages(event(ORDER_A, 1, "Order.Paid")), sleep=no_sleep)
    assert reactor.take_effects() == []


def test_taking_the_effects_empties_the_collection():
    reactor = Greeter()
    apply_batch(reactor, DictRows(), messages(event(ORDER_A, 1)), sleep=no_sleep)
    reactor.take_effects()
    assert reactor.take_effects() == []


def test_an_attempt_that_failed_and_was_retried_leaves_its_effects_once():
    reactor = Greeter()
    flaky = event(ORDER_A, 1)
    Greeter.failures[flaky.event_id] = 1
    apply_batch(reactor, DictRows(), messages(flaky), sleep=no_sleep)
    assert len(reactor.take_effects()) == 2


def test_the_same_event_gives_the_same_keys_again():
    first, again = Greeter(), Greeter()
    confirmed = event(ORDER_B, 1)
    apply_batch(first, DictRows(), messages(confirmed), sleep=no_sleep)
    apply_batch(again, DictRows(), messages(confirmed), sleep=no_sleep)
    assert [r.key for r in first.take_effects()] == [r.key for r in again.take_effects()]


def test_a_reactor_may_start_in_the_middle_of_an_orders_history():
    result = apply_batch(Greeter(), DictRows(), messages(event(ORDER_A, 5)), sleep=no_sleep)
    assert result.outcomes == [Outcome.APPLIED]


def test_a_projection_still_refuses_a_first_event_that_is_not_its_orders_first():
    result = apply_batch(EventCounts(), DictRows(), messages(event(ORDER_A, 5)), sleep=no_sleep)
    assert result.halt is not None and "expected version 1, got 5" in result.halt.error


@pytest.mark.parametrize(
    "effect",
    [
        Command(target="orders", action="cancel", args={"order_id": ORDER_A, "reason": "out of stock: BOOK-42"}),
        Email(to="c-1@example.invalid", subject="Shipped", body="Your order is on its way"),
        PaymentCapture(order_id=ORDER_A),
    ],
)
def test_an_effect_is_recorded_as_json_and_read_back_equal(effect: Effect):
    assert effect_from_json(effect.kind, effect_json(effect)) == effect


def test_an_effect_is_recorded_as_compact_json_with_sorted_keys():
    command = Command(target="inventory", action="reserve", args={"order_id": ORDER_A, "lines": [("SKU-2", 1)]})
    assert effect_json(command) == (
        '{"action":"reserve","args":{"lines":[["SKU-2",1]],"order_id":"%s"},"target":"inventory"}' % ORDER_A
    )


def test_an_effects_payload_is_its_fields():
    assert Email(to="c-1@example.invalid", subject="Hi", body="Hello").payload() == {
        "to": "c-1@example.invalid",
        "subject": "Hi",
        "body": "Hello",
    }


def test_an_effect_of_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown effect kind 'fax'"):
        effect_from_json("fax", "{}")
