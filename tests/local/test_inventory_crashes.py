"""``Inventory`` calls for an order's lines, interrupted after any write and called again (contract tests).

A crash is simulated by an ``Inventory`` whose save raises right after the
k-th write reached the store, as if the process died there; the call is then
made again on a fresh application, as a reactor would after a restart.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.inventory import Inventory, Shortage

ORDER = UUID("00000000-0000-4000-8000-0000000000aa")
LINES = [("PEN-2", 1), ("BOOK-42", 2), ("MUG-7", 3)]  # reserved in SKU order: BOOK-42, MUG-7, PEN-2
SKUS = ["BOOK-42", "MUG-7", "PEN-2"]


class Crash(Exception):
    """The process died here."""


class CrashingInventory(Inventory):
    crash_after_writes = 1
    writes = 0

    def save(self, *objs, **kwargs):
        recordings = super().save(*objs, **kwargs)
        self.writes += 1
        if self.writes == self.crash_after_writes:
            raise Crash(f"crashed after write {self.writes}")
        return recordings


@pytest.fixture
def crashing(open_inventory_app, inventory_app):
    """Stock for LINES on the test's store, and ``crashing(k)``: an Inventory that crashes after its k-th write."""
    for sku in SKUS:
        inventory_app.restock(sku, 5)

    def open_crashing(writes: int) -> Inventory:
        return open_inventory_app(type("Crashing", (CrashingInventory,), {"crash_after_writes": writes}))

    return open_crashing


def held(app: Inventory) -> dict[str, dict[UUID, int]]:
    return {sku: dict(app.stock(sku).reservations) for sku in SKUS}


@pytest.mark.parametrize("writes", [1, 2, 3], ids=lambda k: f"after-write-{k}")
def test_reserving_again_after_a_crash_completes_the_reservation(crashing, inventory_app, writes):
    with pytest.raises(Crash):
        crashing(writes).reserve_for_order(ORDER, LINES)
    assert inventory_app.reserve_for_order(ORDER, LINES).complete
    assert held(inventory_app) == {"BOOK-42": {ORDER: 2}, "MUG-7": {ORDER: 3}, "PEN-2": {ORDER: 1}}


@pytest.mark.parametrize("writes", [1, 2, 3], ids=lambda k: f"after-write-{k}")
def test_reserving_again_after_a_crash_records_each_reservation_once(crashing, inventory_app, writes):
    with pytest.raises(Crash):
        crashing(writes).reserve_for_order(ORDER, LINES)
    inventory_app.reserve_for_order(ORDER, LINES)
    assert {sku: inventory_app.stock(sku).version for sku in SKUS} == {"BOOK-42": 3, "MUG-7": 3, "PEN-2": 3}


# With MUG-7 short, the call writes: reserve BOOK-42, then release BOOK-42.
SHORT_LINES = [("BOOK-42", 2), ("MUG-7", 6), ("PEN-2", 1)]


@pytest.mark.parametrize("writes", [1, 2], ids=lambda k: f"after-write-{k}")
def test_a_short_reservation_called_again_after_a_crash_names_the_short_sku(crashing, inventory_app, writes):
    with pytest.raises(Crash):
        crashing(writes).reserve_for_order(ORDER, SHORT_LINES)
    assert inventory_app.reserve_for_order(ORDER, SHORT_LINES).shortage == Shortage("MUG-7", 5, 6)


@pytest.mark.parametrize("writes", [1, 2], ids=lambda k: f"after-write-{k}")
def test_a_short_reservation_called_again_after_a_crash_leaves_nothing_reserved(crashing, inventory_app, writes):
    with pytest.raises(Crash):
        crashing(writes).reserve_for_order(ORDER, SHORT_LINES)
    inventory_app.reserve_for_order(ORDER, SHORT_LINES)
    assert held(inventory_app) == {"BOOK-42": {}, "MUG-7": {}, "PEN-2": {}}


@pytest.mark.parametrize("writes", [1, 2], ids=lambda k: f"after-write-{k}")
def test_releasing_again_after_a_crash_releases_every_line_once(crashing, inventory_app, writes):
    inventory_app.reserve_for_order(ORDER, LINES)
    with pytest.raises(Crash):
        crashing(writes).release_order(ORDER, SKUS)
    inventory_app.release_order(ORDER, SKUS)
    assert (held(inventory_app), {sku: inventory_app.stock(sku).version for sku in SKUS}) == (
        {"BOOK-42": {}, "MUG-7": {}, "PEN-2": {}}, {"BOOK-42": 4, "MUG-7": 4, "PEN-2": 4}
    )


@pytest.mark.parametrize("writes", [1, 2], ids=lambda k: f"after-write-{k}")
def test_shipping_again_after_a_crash_ships_every_line_once(crashing, inventory_app, writes):
    inventory_app.reserve_for_order(ORDER, LINES)
    with pytest.raises(Crash):
        crashing(writes).ship_order(ORDER, SKUS)
    inventory_app.ship_order(ORDER, SKUS)
    assert {sku: inventory_app.stock(sku).on_hand for sku in SKUS} == {"BOOK-42": 3, "MUG-7": 2, "PEN-2": 4}
