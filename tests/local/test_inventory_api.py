"""The ``Inventory`` domain API on a real event store (contract tests)."""

from __future__ import annotations

import dataclasses
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    DuplicateLineError,
    InvalidSkuError,
    InvalidStockQuantityError,
    OrderNotFoundError,
    ReservationConflictError,
)
from domain.inventory import Shortage
from domain.stock import Stock, stock_id_for

ORDER_1 = UUID("00000000-0000-4000-8000-000000000001")
ORDER_2 = UUID("00000000-0000-4000-8000-000000000002")


@pytest.fixture
def stocked(inventory_app):
    """BOOK-42: 5 on hand, MUG-7: 2 on hand."""
    inventory_app.restock("BOOK-42", 5)
    inventory_app.restock("MUG-7", 2)
    return inventory_app


def versions(app, *skus: str) -> dict[str, int]:
    return {sku: app.stock(sku).version for sku in skus}


# ---- restock and stock ----------------------------------------------------


def test_restock_stores_the_units_on_hand(inventory_app):
    inventory_app.restock("BOOK-42", "5")
    view = inventory_app.stock("BOOK-42")
    assert (view.sku, view.on_hand, view.reserved, view.available, view.version) == ("BOOK-42", 5, 0, 5, 2)


def test_restocks_add_up(inventory_app):
    inventory_app.restock("BOOK-42", 5)
    inventory_app.restock("BOOK-42", 3)
    assert inventory_app.stock("BOOK-42").on_hand == 8


def test_the_stock_of_a_sku_never_restocked_is_empty(inventory_app):
    view = inventory_app.stock("BOOK-42")
    assert (view.on_hand, view.available, dict(view.reservations), view.version) == (0, 0, {}, 0)


def test_the_stock_is_stored_under_the_id_derived_from_its_sku(inventory_app):
    inventory_app.restock("BOOK-42", 1)
    assert [type(e) for e in inventory_app.events.get(stock_id_for("BOOK-42"))] == [Stock.Created, Stock.Restocked]


def test_an_invalid_restock_raises_and_stores_nothing(inventory_app):
    with pytest.raises(InvalidStockQuantityError):
        inventory_app.restock("BOOK-42", 0)
    assert inventory_app.stock("BOOK-42").version == 0


def test_an_invalid_sku_raises_invalid_sku(inventory_app):
    with pytest.raises(InvalidSkuError):
        inventory_app.stock("not a sku")


def test_the_stock_view_cannot_be_assigned_to(stocked):
    view = stocked.stock("BOOK-42")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.on_hand = 99


def test_the_reservations_of_a_stock_view_cannot_be_changed(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1)])
    with pytest.raises(TypeError):
        stocked.stock("BOOK-42").reservations[ORDER_2] = 1


def test_inventory_events_never_reach_the_orders_notification_log(orders_app, stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1)])
    order_id = orders_app.place_order("customer-1", [("BOOK-42", 1, "9.90")])
    notifications = orders_app.recorder.select_notifications(start=None, limit=100)
    assert [(n.originator_id, n.topic) for n in notifications] == [(order_id, "Order.Placed")]



def test_a_stock_loaded_before_sees_what_another_inventory_recorded_since(stocked, open_inventory_app):
    assert stocked.stock("BOOK-42").reserved == 0  # loaded (and kept) by this inventory
    open_inventory_app().reserve_for_order(ORDER_1, [("BOOK-42", 2)])
    assert (stocked.stock("BOOK-42").reserved, stocked.stock("BOOK-42").available) == (2, 3)

# ---- reserve_for_order ----------------------------------------------------


def test_reserve_for_order_reserves_every_line(stocked):
    stocked.reserve_for_order(ORDER_1, [("MUG-7", 2), ("BOOK-42", 3)])
    book, mug = stocked.stock("BOOK-42"), stocked.stock("MUG-7")
    assert (dict(book.reservations), book.available, dict(mug.reservations), mug.available) == (
        {ORDER_1: 3}, 2, {ORDER_1: 2}, 0
    )


def test_a_complete_reservation_lists_the_lines_in_sku_order(stocked):
    reservation = stocked.reserve_for_order(str(ORDER_1), [("MUG-7", "2"), ("BOOK-42", 3)])
    assert (reservation.order_id, dict(reservation.lines), reservation.complete, reservation.short_sku) == (
        ORDER_1, {"BOOK-42": 3, "MUG-7": 2}, True, None
    )
    assert list(reservation.lines) == ["BOOK-42", "MUG-7"]


def test_reserving_the_same_lines_again_stores_nothing_and_is_complete(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3), ("MUG-7", 2)])
    again = stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3), ("MUG-7", 2)])
    assert (again.complete, versions(stocked, "BOOK-42", "MUG-7")) == (True, {"BOOK-42": 3, "MUG-7": 3})


def test_a_short_line_makes_the_reservation_name_the_sku_what_is_available_and_what_was_asked(stocked):
    reservation = stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("MUG-7", 3)])
    assert (reservation.complete, reservation.short_sku, reservation.shortage) == (
        False, "MUG-7", Shortage("MUG-7", available=2, requested=3)
    )


def test_a_short_line_releases_the_lines_reserved_before_it(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("MUG-7", 3)])
    book = stocked.stock("BOOK-42")
    assert (dict(book.reservations), book.available) == ({}, 5)


def test_a_short_line_reserves_none_of_the_lines_after_it(stocked):
    stocked.restock("PEN-2", 9)
    stocked.reserve_for_order(ORDER_1, [("PEN-2", 1), ("MUG-7", 3)])
    assert (dict(stocked.stock("PEN-2").reservations), stocked.stock("PEN-2").version) == ({}, 2)


def test_a_sku_never_restocked_is_short_with_nothing_available(stocked):
    reservation = stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("LAMP-3", 1)])
    assert reservation.shortage == Shortage("LAMP-3", available=0, requested=1)


def test_reserving_a_sku_never_restocked_creates_no_stock(inventory_app):
    inventory_app.reserve_for_order(ORDER_1, [("LAMP-3", 1)])
    assert list(inventory_app.events.get(stock_id_for("LAMP-3"))) == []


def test_units_reserved_for_one_order_are_not_available_to_another(stocked):
    stocked.reserve_for_order(ORDER_1, [("MUG-7", 2)])
    assert stocked.reserve_for_order(ORDER_2, [("MUG-7", 1)]).shortage == Shortage("MUG-7", 0, 1)


def test_an_order_without_lines_reserves_nothing_and_is_complete(stocked):
    assert stocked.reserve_for_order(ORDER_1, []).complete


def test_a_sku_given_twice_raises_and_reserves_nothing(stocked):
    with pytest.raises(DuplicateLineError, match="SKU BOOK-42 appears twice"):
        stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("MUG-7", 1), ("BOOK-42", 1)])
    assert versions(stocked, "BOOK-42", "MUG-7") == {"BOOK-42": 2, "MUG-7": 2}


def test_an_invalid_quantity_raises_before_anything_is_reserved(stocked):
    with pytest.raises(InvalidStockQuantityError, match="reserved quantity of MUG-7"):
        stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("MUG-7", 0)])
    assert stocked.stock("BOOK-42").version == 2


def test_a_malformed_order_id_raises_order_not_found(stocked):
    with pytest.raises(OrderNotFoundError, match="is not an order id"):
        stocked.reserve_for_order("not-an-id", [("BOOK-42", 1)])


def test_another_quantity_for_a_line_already_reserved_raises_and_releases_what_the_call_reserved(stocked):
    stocked.restock("PEN-2", 9)
    stocked.reserve_for_order(ORDER_1, [("PEN-2", 1)])
    with pytest.raises(ReservationConflictError, match="already holds 1 of PEN-2"):
        stocked.reserve_for_order(ORDER_1, [("BOOK-42", 1), ("PEN-2", 2)])
    assert (dict(stocked.stock("BOOK-42").reservations), dict(stocked.stock("PEN-2").reservations)) == (
        {}, {ORDER_1: 1}
    )


# ---- release_order and ship_order -----------------------------------------


def test_release_order_gives_the_units_back(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3), ("MUG-7", 2)])
    stocked.release_order(ORDER_1, ["MUG-7", "BOOK-42"])
    assert [(v.available, dict(v.reservations)) for v in map(stocked.stock, ["BOOK-42", "MUG-7"])] == [
        (5, {}), (2, {})
    ]


def test_releasing_an_order_again_stores_nothing(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3)])
    stocked.release_order(ORDER_1, ["BOOK-42"])
    stocked.release_order(ORDER_1, ["BOOK-42"])
    assert stocked.stock("BOOK-42").version == 4


def test_releasing_an_order_that_holds_nothing_stores_nothing(stocked):
    stocked.release_order(uuid4(), ["BOOK-42", "LAMP-3"])
    assert versions(stocked, "BOOK-42", "LAMP-3") == {"BOOK-42": 2, "LAMP-3": 0}


def test_release_order_leaves_other_orders_reservations_alone(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3)])
    stocked.reserve_for_order(ORDER_2, [("BOOK-42", 1)])
    stocked.release_order(ORDER_1, ["BOOK-42"])
    assert dict(stocked.stock("BOOK-42").reservations) == {ORDER_2: 1}


def test_ship_order_takes_the_reserved_units_off_hand(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3), ("MUG-7", 2)])
    stocked.ship_order(str(ORDER_1), ["BOOK-42", "MUG-7"])
    assert [(v.on_hand, v.reserved, v.available) for v in map(stocked.stock, ["BOOK-42", "MUG-7"])] == [
        (2, 0, 2), (0, 0, 0)
    ]


def test_shipping_an_order_again_stores_nothing(stocked):
    stocked.reserve_for_order(ORDER_1, [("BOOK-42", 3)])
    stocked.ship_order(ORDER_1, ["BOOK-42"])
    stocked.ship_order(ORDER_1, ["BOOK-42"])
    assert (stocked.stock("BOOK-42").on_hand, stocked.stock("BOOK-42").version) == (2, 4)


def test_shipping_an_order_that_holds_nothing_stores_nothing(stocked):
    stocked.ship_order(ORDER_1, ["BOOK-42", "LAMP-3"])
    assert versions(stocked, "BOOK-42", "LAMP-3") == {"BOOK-42": 2, "LAMP-3": 0}


def test_skus_given_as_one_string_are_refused(stocked):
    with pytest.raises(TypeError, match="not one string"):
        stocked.release_order(ORDER_1, "BOOK-42")
