"""Concurrent reservations of the same stock: never more reserved than on hand (contract tests)."""

from __future__ import annotations

import threading
from uuid import UUID, uuid4

import pytest

from domain.errors import ConcurrencyError
from domain.inventory import Inventory, Reservation, Shortage

ORDER_1 = UUID("00000000-0000-4000-8000-000000000001")
ORDER_2 = UUID("00000000-0000-4000-8000-000000000002")


class RacedInventory(Inventory):
    """An ``Inventory`` whose first load of a stock is followed by a rival reserving from it."""

    rival: Inventory
    rival_lines: list[tuple[str, int]]
    raced = False

    def _find(self, stock_id):
        stock = super()._find(stock_id)
        if not self.raced:
            self.raced = True
            self.rival.reserve_for_order(ORDER_2, self.rival_lines)
        return stock


@pytest.fixture
def raced(open_inventory_app):
    def open_raced(rival_lines: list[tuple[str, int]], max_attempts: int = 8) -> RacedInventory:
        app = open_inventory_app(type("Raced", (RacedInventory,), {"max_attempts": max_attempts}))
        app.rival = open_inventory_app()
        app.rival_lines = rival_lines
        return app

    return open_raced


def test_a_reservation_that_loses_the_race_for_the_last_unit_is_short(raced):
    app = raced(rival_lines=[("BOOK-42", 1)])
    app.rival.restock("BOOK-42", 1)
    assert app.reserve_for_order(ORDER_1, [("BOOK-42", 1)]).shortage == Shortage("BOOK-42", 0, 1)


def test_the_reservation_that_wins_the_race_for_the_last_unit_keeps_it(raced):
    app = raced(rival_lines=[("BOOK-42", 1)])
    app.rival.restock("BOOK-42", 1)
    app.reserve_for_order(ORDER_1, [("BOOK-42", 1)])
    view = app.rival.stock("BOOK-42")
    assert (dict(view.reservations), view.available) == ({ORDER_2: 1}, 0)


def test_a_reservation_that_loses_a_race_with_units_left_is_retried_and_reserved(raced):
    app = raced(rival_lines=[("BOOK-42", 1)])
    app.rival.restock("BOOK-42", 2)
    assert app.reserve_for_order(ORDER_1, [("BOOK-42", 1)]).complete
    assert dict(app.rival.stock("BOOK-42").reservations) == {ORDER_1: 1, ORDER_2: 1}


def test_a_reservation_that_loses_every_race_raises_concurrency_error(raced):
    app = raced(rival_lines=[("BOOK-42", 1)], max_attempts=1)
    app.rival.restock("BOOK-42", 2)
    with pytest.raises(ConcurrencyError, match="the stock of BOOK-42 kept changing.* gave up after 1 attempts"):
        app.reserve_for_order(ORDER_1, [("BOOK-42", 1)])


def run_together(calls) -> list[Reservation]:
    """Run ``calls`` in threads started at the same moment; their results, in order."""
    results: list = [None] * len(calls)
    errors: list = []
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == []
    return results


THREADS = 8
UNITS = 3


def test_concurrent_orders_reserve_exactly_the_units_on_hand(inventory_app):
    inventory_app.restock("BOOK-42", UNITS)
    orders = [uuid4() for _ in range(THREADS)]
    results = run_together([lambda o=o: inventory_app.reserve_for_order(o, [("BOOK-42", 1)]) for o in orders])
    view = inventory_app.stock("BOOK-42")
    winners = {r.order_id for r in results if r.complete}
    assert (len(winners), set(view.reservations), view.available) == (UNITS, winners, 0)


def test_two_orders_racing_for_the_last_units_of_two_skus_never_both_end_short(inventory_app):
    inventory_app.restock("BOOK-42", 1)
    inventory_app.restock("MUG-7", 1)
    # Opposite line orders: reserving in SKU order, one of them gets both.
    results = run_together([
        lambda: inventory_app.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("MUG-7", 1)]),
        lambda: inventory_app.reserve_for_order(ORDER_2, [("MUG-7", 1), ("BOOK-42", 1)]),
    ])
    (winner,) = [r.order_id for r in results if r.complete]
    assert {sku: dict(inventory_app.stock(sku).reservations) for sku in ("BOOK-42", "MUG-7")} == {
        "BOOK-42": {winner: 1}, "MUG-7": {winner: 1}
    }
