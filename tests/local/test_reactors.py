"""Reactors on the embedded log: effects delivered once each, never again by a replay or a restart."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from adapters.bootstrap import System
from adapters.config import Settings
from adapters.reactors.dispatcher import DeliveryError
from adapters.reactors.run import replay, run_reactors, start
from adapters.sql.schema import EffectStatus, reactor_effects
from reactors.builtin.notification import NotificationReactor
from reactors.builtin.payment import PaymentReactor
from reactors.contract import Effect
from tests.local.projection_kit import simulate
from tests.systems import migrate, system_for


class Recorder:
    """A deliverer that records every delivery (key, effect); each key fails its first ``fail_first`` attempts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.delivered: list[tuple[str, Effect]] = []
        self.fail_first = fail_first
        self.failures: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, key: str, effect: Effect) -> str:
        with self.lock:
            if self.failures[key] < self.fail_first:
                self.failures[key] += 1
                raise DeliveryError("receiver down", retryable=True)
            self.delivered.append((key, effect))
        return "done"

    def keys(self) -> list[str]:
        return [k for k, _ in self.delivered]


@pytest.fixture
def system(settings: Settings, orders) -> System:
    migrate(settings)
    return system_for(settings, orders)


def statuses(system: System) -> Counter[str]:
    with system.read_models_for_reading.connect() as conn:
        return Counter(s for (s,) in conn.execute(select(reactor_effects.c.status)))


def test_a_new_reactor_starts_at_the_head_and_sends_nothing_for_the_past(system, orders):
    simulate(orders, n_orders=10)
    recorder = Recorder()
    result = run_reactors(system, recorder, [PaymentReactor], until_caught_up=True)
    assert (recorder.delivered, result.consumed.events, result.started) == ([], 0, ["payment"])


def test_a_running_reactor_delivers_each_effect_of_new_events_once(system, orders):
    start(system, NotificationReactor)
    simulate(orders, n_orders=10)
    recorder = Recorder()
    run_reactors(system, recorder, [NotificationReactor], until_caught_up=True)
    keys = recorder.keys()
    assert keys and len(keys) == len(set(keys))
    assert statuses(system) == {EffectStatus.DISPATCHED: len(keys)}


def test_running_again_delivers_nothing_already_delivered(system, orders):
    start(system, NotificationReactor)
    simulate(orders, n_orders=10)
    recorder = Recorder()
    run_reactors(system, recorder, [NotificationReactor], until_caught_up=True)
    delivered = len(recorder.delivered)
    run_reactors(system, recorder, [NotificationReactor], until_caught_up=True)
    assert len(recorder.delivered) == delivered


def test_a_replay_from_offset_zero_sends_nothing_and_rebuilds_the_same_state(system, orders):
    start(system, NotificationReactor)
    simulate(orders, n_orders=15)
    recorder = Recorder()
    run_reactors(system, recorder, [NotificationReactor], until_caught_up=True)
    before = (statuses(system), _state(system))
    delivered = len(recorder.delivered)
    replay(system, NotificationReactor)
    run_reactors(system, recorder, [NotificationReactor], until_caught_up=True)
    assert len(recorder.delivered) == delivered
    assert (statuses(system), _state(system)) == before


def test_from_the_beginning_history_is_read_and_its_effects_suppressed(system, orders):
    simulate(orders, n_orders=10)
    recorder = Recorder()
    result = run_reactors(system, recorder, [PaymentReactor], until_caught_up=True, from_beginning=True)
    assert recorder.delivered == [] and result.consumed.events > 0
    assert set(statuses(system)) == {EffectStatus.SUPPRESSED}


def test_from_the_beginning_with_history_sent_delivers_each_past_effect_exactly_once(system, orders):
    simulate(orders, n_orders=10)
    recorder = Recorder()
    run_reactors(system, recorder, [PaymentReactor], until_caught_up=True, from_beginning=True, send_history=True)
    run_reactors(system, recorder, [PaymentReactor], until_caught_up=True)
    history = orders.recorder.select_notifications(start=0, limit=10**6)
    confirmed = sum(1 for n in history if n.topic == "Order.Confirmed")
    keys = recorder.keys()
    assert len(keys) == len(set(keys)) == confirmed > 0


def test_a_delivery_that_fails_for_a_while_is_delivered_once_it_passes(system, orders):
    start(system, PaymentReactor)
    simulate(orders, n_orders=6)
    recorder = Recorder(fail_first=2)
    result = run_reactors(system, recorder, [PaymentReactor], until_caught_up=True, patience=20)
    keys = recorder.keys()
    assert keys and len(keys) == len(set(keys))
    assert (result.delivered.retried, result.pending) == (2 * len(keys), 0)


def test_a_delivery_that_can_never_succeed_is_failed_not_retried(system, orders):
    start(system, PaymentReactor)
    simulate(orders, n_orders=6)

    def refuse(key: str, effect: Effect) -> str:
        raise DeliveryError("address refused", retryable=False)

    result = run_reactors(system, refuse, [PaymentReactor], until_caught_up=True)
    assert result.delivered.failed > 0 and result.delivered.retried == 0
    assert set(statuses(system)) == {EffectStatus.FAILED}


def _stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()
    return stop


def _state(system: System) -> list[dict]:
    with system.read_models_for_reading.connect() as conn:
        table = NotificationReactor.orders
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.order_id)).mappings()]
