"""The aggregate test kit checks what it claims to check."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidTransitionError, OrderError
from domain.order import Order
from domain.testing import given, placed
from tests.unit.domain.histories import PAID_ORDER, PLACED_ORDER


def test_given_rebuilds_the_aggregate_from_its_events():
    order = given(*PAID_ORDER).replay()
    assert (order.version, order.status.value) == (4, "paid")


def test_then_fails_when_other_events_were_triggered():
    result = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5))
    with pytest.raises(AssertionError, match=r"expected events \['Order.LineRemoved'\]"):
        result.then(Order.LineRemoved)


def test_then_fails_when_more_events_were_triggered_than_expected():
    result = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5))
    with pytest.raises(AssertionError):
        result.then()


def test_then_fails_when_an_attribute_differs():
    result = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5))
    with pytest.raises(AssertionError, match="QuantityChanged.quantity: expected 6, got 5"):
        result.then((Order.QuantityChanged, {"quantity": 6}))


def test_then_fails_when_the_command_raised():
    result = given(*PLACED_ORDER).when(lambda order: order.ship("DHL", "1"))
    with pytest.raises(AssertionError, match="the command raised"):
        result.then(Order.Shipped)


def test_then_nothing_fails_when_events_were_triggered():
    result = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5))
    with pytest.raises(AssertionError):
        result.then_nothing()


def test_then_error_fails_when_no_error_was_raised():
    result = given(*PLACED_ORDER).when(lambda order: order.change_quantity("SKU-1", 5))
    with pytest.raises(AssertionError, match="expected InvalidTransitionError, but the command triggered"):
        result.then_error(InvalidTransitionError)


def test_then_error_fails_when_another_error_was_raised():
    result = given(*PLACED_ORDER).when(lambda order: order.ship("DHL", "1"))
    with pytest.raises(AssertionError, match="got InvalidTransitionError"):
        result.then_error(KeyError)


def test_then_error_fails_when_the_message_does_not_match():
    result = given(*PLACED_ORDER).when(lambda order: order.ship("DHL", "1"))
    with pytest.raises(AssertionError, match="does not match"):
        result.then_error(InvalidTransitionError, match="something else")


def test_then_error_accepts_a_base_class_of_the_error():
    given(*PLACED_ORDER).when(lambda order: order.ship("DHL", "1")).then_error(OrderError)


def test_then_error_fails_when_the_command_left_pending_events():
    def change_then_fail(order):
        order.change_quantity("SKU-1", 5)
        order.ship("DHL", "1")

    result = given(*PLACED_ORDER).when(change_then_fail)
    with pytest.raises(AssertionError, match="left pending events behind"):
        result.then_error(InvalidTransitionError)


def test_placed_overrides_keep_the_fingerprint_consistent():
    order = given(placed(customer_id="someone-else")).replay()
    order.check_same_placement("someone-else", [("SKU-1", 2, "10.00")], "EUR", "web")


def test_reading_the_state_after_a_command_that_raised_unexpectedly_fails():
    outcome = given(placed()).when(lambda order: order.ship("DHL", "1"))
    with pytest.raises(AssertionError, match="the command raised"):
        _ = outcome.state


class Counter(Aggregate):
    """An aggregate other than Order, to show the kit is not tied to one."""

    class Created(Aggregate.Created):
        start: int

    class Incremented(Aggregate.Event):
        pass

    def __init__(self, start: int) -> None:
        self.count = start

    @event(Incremented)
    def increment(self) -> None:
        self.count += 1


class Unnested(Aggregate.Created):
    pass


def test_given_rebuilds_an_aggregate_of_the_class_its_creation_event_is_nested_in():
    counter = given((Counter.Created, {"start": 3}), Counter.Incremented).replay()
    assert (type(counter), counter.count, counter.version) == (Counter, 4, 2)


def test_when_and_then_work_on_any_aggregate():
    given((Counter.Created, {"start": 3})).when(lambda counter: counter.increment()).then(Counter.Incremented)


def test_given_refuses_a_creation_event_not_nested_in_an_aggregate():
    with pytest.raises(TypeError, match="Unnested is not nested in an aggregate class"):
        given(Unnested)
