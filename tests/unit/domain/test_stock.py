"""The Stock aggregate: restock, reserve for an order, release, ship; every command idempotent by order id."""

from __future__ import annotations

import pickle
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    InvalidSkuError,
    InvalidStockQuantityError,
    OutOfStockError,
    ReservationConflictError,
    StockError,
)
from domain.stock import MAX_ON_HAND, MAX_RESTOCK, Stock, stock_id_for
from domain.testing import given, stock_created

ORDER_1 = UUID("00000000-0000-4000-8000-000000000001")
ORDER_2 = UUID("00000000-0000-4000-8000-000000000002")


def restocked(quantity: int) -> tuple[type, dict[str, Any]]:
    return (Stock.Restocked, {"quantity": quantity})


def reserved(order_id: UUID, quantity: int) -> tuple[type, dict[str, Any]]:
    return (Stock.Reserved, {"order_id": order_id, "quantity": quantity})


def released(order_id: UUID, quantity: int) -> tuple[type, dict[str, Any]]:
    return (Stock.Released, {"order_id": order_id, "quantity": quantity})


def shipped(order_id: UUID, quantity: int) -> tuple[type, dict[str, Any]]:
    return (Stock.Shipped, {"order_id": order_id, "quantity": quantity})


FIVE_ON_HAND = (stock_created(), restocked(5))
TWO_RESERVED_FOR_ORDER_1 = (*FIVE_ON_HAND, reserved(ORDER_1, 2))


# ---- identity -------------------------------------------------------------


def test_the_stock_id_is_derived_from_the_sku():
    assert stock_id_for(" BOOK-42 ") == stock_id_for("BOOK-42")


def test_different_skus_have_different_stock_ids():
    assert stock_id_for("BOOK-42") != stock_id_for("BOOK-43")


def test_creating_a_stock_records_created_with_the_sku():
    given().when(lambda _: Stock.create(" BOOK-42 ")).then((Stock.Created, {"sku": "BOOK-42"}))


def test_a_created_stock_has_the_id_of_its_sku():
    assert given().when(lambda _: Stock.create("BOOK-42")).state.id == stock_id_for("BOOK-42")


def test_a_new_stock_has_nothing_on_hand_reserved_or_available():
    stock = given(stock_created()).replay()
    assert (stock.on_hand, stock.reserved, stock.available) == (0, 0, 0)


def test_cannot_create_the_stock_of_an_invalid_sku():
    given().when(lambda _: Stock.create("book 42")).then_error(InvalidSkuError)


# ---- restock --------------------------------------------------------------


def test_restocking_records_restocked_with_the_quantity():
    given(stock_created()).when(lambda stock: stock.restock(" 5 ")).then(restocked(5))


def test_restocking_adds_to_what_is_on_hand():
    assert given(*FIVE_ON_HAND).when(lambda stock: stock.restock(3)).state.on_hand == 8


@pytest.mark.parametrize("quantity", [0, -1, MAX_RESTOCK + 1])
def test_cannot_restock_a_quantity_out_of_range(quantity):
    given(stock_created()).when(lambda stock: stock.restock(quantity)).then_error(
        InvalidStockQuantityError, match=f"restock quantity must be between 1 and {MAX_RESTOCK}"
    )


@pytest.mark.parametrize("quantity", ["2.5", "abc", "", 2.0, True])
def test_cannot_restock_other_than_a_whole_number(quantity):
    given(stock_created()).when(lambda stock: stock.restock(quantity)).then_error(
        InvalidStockQuantityError, match="is not a whole number"
    )


def test_cannot_restock_above_the_on_hand_limit():
    history = (stock_created(), *[restocked(MAX_RESTOCK)] * (MAX_ON_HAND // MAX_RESTOCK))
    given(*history).when(lambda stock: stock.restock(1)).then_error(
        InvalidStockQuantityError, match=f"above the limit of {MAX_ON_HAND}"
    )


def test_a_broken_stock_rule_is_an_order_error_for_callers():
    # The CLI maps every OrderError to exit code 1.
    given(stock_created()).when(lambda stock: stock.restock(0)).then_error(StockError)


# ---- reserve --------------------------------------------------------------


def test_reserving_records_reserved_for_the_order():
    given(*FIVE_ON_HAND).when(lambda stock: stock.reserve(ORDER_1, "2")).then(reserved(ORDER_1, 2))


def test_a_reservation_takes_units_from_what_is_available_not_from_on_hand():
    stock = given(*FIVE_ON_HAND).when(lambda stock: stock.reserve(ORDER_1, 2)).state
    assert (stock.on_hand, stock.reserved, stock.available, stock.reservations) == (5, 2, 3, {ORDER_1: 2})


def test_reserving_everything_available_is_allowed():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.reserve(ORDER_2, 3)).then(reserved(ORDER_2, 3))


def test_cannot_reserve_more_than_is_available():
    given(*FIVE_ON_HAND).when(lambda stock: stock.reserve(ORDER_1, 6)).then_error(
        OutOfStockError, match="not enough SKU-1 in stock: 5 available, 6 asked for"
    )


def test_units_reserved_for_another_order_are_not_available():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.reserve(ORDER_2, 4)).then_error(
        OutOfStockError, match="3 available, 4 asked for"
    )


def test_an_empty_stock_is_out_of_stock():
    given(stock_created("BOOK-42")).when(lambda stock: stock.reserve(ORDER_1, 1)).then_error(
        OutOfStockError, match="not enough BOOK-42 in stock: 0 available, 1 asked for"
    )


def test_the_out_of_stock_error_names_the_sku_what_is_available_and_what_was_asked():
    outcome = given(*FIVE_ON_HAND).when(lambda stock: stock.reserve(ORDER_1, 6)).then_error(OutOfStockError)
    assert (outcome.error.sku, outcome.error.available, outcome.error.requested) == ("SKU-1", 5, 6)


def test_an_out_of_stock_error_survives_pickling():
    error = pickle.loads(pickle.dumps(OutOfStockError("SKU-1", 0, 2)))
    assert (error.sku, error.available, error.requested, str(error)) == (
        "SKU-1", 0, 2, str(OutOfStockError("SKU-1", 0, 2))
    )


def test_reserving_again_for_the_same_order_and_quantity_records_nothing():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.reserve(ORDER_1, 2)).then_nothing()


def test_reserving_again_with_the_same_quantity_records_nothing_when_nothing_is_left():
    given(stock_created(), restocked(2), reserved(ORDER_1, 2)).when(
        lambda stock: stock.reserve(ORDER_1, 2)
    ).then_nothing()


def test_reserving_again_for_the_same_order_with_another_quantity_is_refused():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.reserve(ORDER_1, 3)).then_error(
        ReservationConflictError, match=f"order {ORDER_1} already holds 2 of SKU-1; release it before reserving 3"
    )


@pytest.mark.parametrize("quantity", [0, -2, "x", "1.5"])
def test_cannot_reserve_an_invalid_quantity(quantity):
    given(*FIVE_ON_HAND).when(lambda stock: stock.reserve(ORDER_1, quantity)).then_error(
        InvalidStockQuantityError, match="reserved quantity"
    )


def test_an_order_can_reserve_again_after_its_reservation_was_released():
    given(*TWO_RESERVED_FOR_ORDER_1, released(ORDER_1, 2)).when(
        lambda stock: stock.reserve(ORDER_1, 3)
    ).then(reserved(ORDER_1, 3))


# ---- release --------------------------------------------------------------


def test_releasing_records_released_with_the_quantity_held():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.release(ORDER_1)).then(released(ORDER_1, 2))


def test_releasing_makes_the_units_available_again():
    stock = given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.release(ORDER_1)).state
    assert (stock.on_hand, stock.reserved, stock.available, stock.reservations) == (5, 0, 5, {})


def test_releasing_an_order_without_a_reservation_records_nothing():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.release(ORDER_2)).then_nothing()


def test_releasing_twice_records_one_release():
    given(*TWO_RESERVED_FOR_ORDER_1, released(ORDER_1, 2)).when(lambda stock: stock.release(ORDER_1)).then_nothing()


# ---- ship -----------------------------------------------------------------


def test_shipping_records_shipped_with_the_quantity_held():
    given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.ship(ORDER_1)).then(shipped(ORDER_1, 2))


def test_shipping_takes_the_units_off_hand_and_off_reserved():
    stock = given(*TWO_RESERVED_FOR_ORDER_1).when(lambda stock: stock.ship(ORDER_1)).state
    assert (stock.on_hand, stock.reserved, stock.available, stock.reservations) == (3, 0, 3, {})


def test_shipping_leaves_the_reservations_of_other_orders_alone():
    history = (*TWO_RESERVED_FOR_ORDER_1, reserved(ORDER_2, 1))
    stock = given(*history).when(lambda stock: stock.ship(ORDER_1)).state
    assert (stock.on_hand, stock.reservations) == (3, {ORDER_2: 1})


def test_shipping_an_order_without_a_reservation_records_nothing():
    given(*FIVE_ON_HAND).when(lambda stock: stock.ship(ORDER_1)).then_nothing()


def test_shipping_twice_records_one_shipment():
    given(*TWO_RESERVED_FOR_ORDER_1, shipped(ORDER_1, 2)).when(lambda stock: stock.ship(ORDER_1)).then_nothing()


def test_a_released_reservation_cannot_be_shipped():
    given(*TWO_RESERVED_FOR_ORDER_1, released(ORDER_1, 2)).when(lambda stock: stock.ship(ORDER_1)).then_nothing()


# ---- history --------------------------------------------------------------


def test_replaying_a_history_rebuilds_on_hand_and_reservations():
    order_3 = uuid4()
    stock = given(
        *TWO_RESERVED_FOR_ORDER_1,
        reserved(ORDER_2, 1),
        reserved(order_3, 1),
        shipped(ORDER_1, 2),
        released(ORDER_2, 1),
        restocked(10),
    ).replay()
    assert (stock.sku, stock.on_hand, stock.reserved, stock.available, stock.reservations, stock.version) == (
        "SKU-1", 13, 1, 12, {order_3: 1}, 8
    )
