"""Concurrent writers on one order: no lost update, and a clear error when retries run out."""

from __future__ import annotations

import threading
from collections import Counter
from uuid import UUID

import pytest

from domain.application import Orders
from domain.errors import ConcurrencyError

THREADS = 8
LINES_PER_THREAD = 5
CHANGES_PER_THREAD = 20  # LINES_PER_THREAD additions, then quantity changes


def writer(app: Orders, order_id: UUID, thread: int, model: dict, successes: Counter, failures: list) -> None:
    """Add this thread's own lines, then keep changing their quantities.

    ``model`` is what this thread knows it changed; a command that gave up with
    ``ConcurrencyError`` changed nothing, so it is left out.
    """
    skus = [f"T{thread}-L{i}" for i in range(LINES_PER_THREAD)]
    for step in range(CHANGES_PER_THREAD):
        sku = skus[step % LINES_PER_THREAD]
        try:
            if step < LINES_PER_THREAD:
                app.add_line(order_id, sku, 1, "1.00")
                model[sku] = 1
            elif sku in model:
                quantity = model[sku] + 1
                app.change_quantity(order_id, sku, quantity)
                model[sku] = quantity
            else:
                continue
        except ConcurrencyError as error:
            failures.append(error)
            continue
        successes[thread] += 1


def test_concurrent_writers_on_one_order_lose_no_update(orders_app):
    order_id = orders_app.place_order("customer-1", [("SKU-0", 1, "1.00")])
    models: list[dict] = [dict() for _ in range(THREADS)]
    successes: Counter = Counter()
    failures: list = []
    crashes: list = []
    start = threading.Barrier(THREADS)

    def run(thread: int) -> None:
        start.wait()
        try:
            writer(orders_app, order_id, thread, models[thread], successes, failures)
        except Exception as error:  # a thread's exception would otherwise vanish
            crashes.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not any(t.is_alive() for t in threads) and crashes == []
    print(f"{len(failures)} of {THREADS * CHANGES_PER_THREAD} commands gave up")
    view = orders_app.get_order(order_id)
    expected = {"SKU-0": 1}
    for model in models:
        expected.update(model)
    assert {ln.sku: ln.quantity for ln in view.lines} == expected
    assert view.version == 1 + sum(successes.values())
    assert all(successes[t] > 0 for t in range(THREADS))


class RacedOrders(Orders):
    """An ``Orders`` whose every load is followed by a real write from a rival application."""

    rival: Orders
    rival_writes = 0

    def _load(self, order_id):
        order = super()._load(order_id)
        self.rival_writes += 1
        self.rival.add_line(order_id, f"RIVAL-{self.rival_writes}", 1, "1.00")
        return order


class RacedOnceOrders(RacedOrders):
    def _load(self, order_id):
        if self.rival_writes:
            return Orders._load(self, order_id)
        return super()._load(order_id)


@pytest.fixture
def raced(open_app):
    def open_raced(cls: type[RacedOrders], max_attempts: int) -> RacedOrders:
        app = open_app(type(cls.__name__, (cls,), {"max_attempts": max_attempts}))
        app.rival = open_app()
        return app

    return open_raced


def test_a_command_that_loses_every_race_raises_concurrency_error(raced):
    app = raced(RacedOrders, max_attempts=1)
    order_id = app.rival.place_order("customer-1", [("SKU-1", 1, "1.00")])
    with pytest.raises(ConcurrencyError, match="gave up after 1 attempts, try again"):
        app.change_quantity(order_id, "SKU-1", 5)


def test_a_command_that_loses_every_race_records_nothing(raced):
    app = raced(RacedOrders, max_attempts=3)
    order_id = app.rival.place_order("customer-1", [("SKU-1", 1, "1.00")])
    with pytest.raises(ConcurrencyError):
        app.change_quantity(order_id, "SKU-1", 5)
    view = app.rival.get_order(order_id)
    assert ({ln.sku: ln.quantity for ln in view.lines}["SKU-1"], view.version) == (1, 1 + 3)


def test_a_command_that_loses_one_race_is_retried_on_the_fresh_state(raced):
    app = raced(RacedOnceOrders, max_attempts=2)
    order_id = app.rival.place_order("customer-1", [("SKU-1", 1, "1.00")])
    app.change_quantity(order_id, "SKU-1", 5)
    view = app.rival.get_order(order_id)
    assert {ln.sku: ln.quantity for ln in view.lines} == {"SKU-1": 5, "RIVAL-1": 1}
