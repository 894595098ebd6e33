"""The built-in reactors on the embedded log, delivering for real: stock, payments and mail agree with the orders."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from adapters.bootstrap import System
from adapters.config import Settings
from adapters.reactors.delivery import delivery_for
from adapters.reactors.run import replay, run_reactors, start
from domain.order import OrderStatus
from reactors import BUILT_IN
from reactors.builtin.inventory import InventoryReactor, reserve
from tests.reactor_day import expected, place_orders, restock
from tests.systems import migrate


@pytest.fixture
def system(settings: Settings):
    # Scarce stock and a payment that declines sometimes: every path of the reactors is taken.
    settings = dataclasses.replace(settings, payment_decline_rate=0.3)
    migrate(settings)
    system = System(settings)
    yield system
    system.close()


def handled_day(system: System, seed: int = 5):
    for reactor in BUILT_IN:
        start(system, reactor)
    day = restock(system.inventory, seed)
    place_orders(system.orders, day, seed)
    result = run_reactors(system, delivery_for(system), until_caught_up=True)
    # The cancellations the reactors made are events too: handled by the next round.
    again = run_reactors(system, delivery_for(system), until_caught_up=True)
    return day, result, again


def test_stock_held_equals_what_the_open_orders_hold(system: System):
    day, _, _ = handled_day(system)
    want = expected(system.orders, day)
    stock = {sku: system.inventory.stock(sku) for sku in day.catalogue}
    assert {s: v.reserved for s, v in stock.items()} == want.reserved
    assert {s: v.on_hand for s, v in stock.items()} == want.on_hand


def test_an_order_that_could_not_be_reserved_is_cancelled_out_of_stock(system: System):
    day, _, _ = handled_day(system)
    reasons = [system.orders.get_order(o).cancel_reason for o in day.order_ids]
    assert any(r is not None and r.startswith("out of stock: ITEM-") for r in reasons)


def test_every_confirmed_order_is_paid_or_cancelled_as_declined(system: System):
    day, _, _ = handled_day(system)
    views = [system.orders.get_order(o) for o in day.order_ids]
    assert not [v for v in views if v.status is OrderStatus.CONFIRMED]
    declined = [v for v in views if (v.cancel_reason or "").startswith("payment declined")]
    paid = [v for v in views if v.status is OrderStatus.PAID]
    assert declined and paid


def test_each_customer_mail_is_written_once(system: System):
    day, _, _ = handled_day(system)
    mails = list(Path(system.settings.mail_dir).glob("*.eml"))
    assert len(mails) == expected(system.orders, day).mails


def test_a_replay_of_the_inventory_reactor_changes_no_stock_and_sends_nothing(system: System):
    day, _, _ = handled_day(system)
    before = {sku: system.inventory.stock(sku) for sku in day.catalogue}
    mails = sorted(Path(system.settings.mail_dir).glob("*.eml"))
    replay(system, InventoryReactor)
    run_reactors(system, delivery_for(system), until_caught_up=True)
    assert {sku: system.inventory.stock(sku) for sku in day.catalogue} == before
    assert sorted(Path(system.settings.mail_dir).glob("*.eml")) == mails


def test_a_short_reservation_for_an_order_cancelled_meanwhile_leaves_its_cancellation(system: System):
    system.inventory.restock("ITEM-00", 1)
    order_id = system.orders.place_order("customer-1", [("ITEM-00", 2, "5.00")], currency="EUR")
    system.orders.cancel(order_id, "changed my mind")
    outcome = delivery_for(system)("inventory:e:0", reserve(str(order_id), [("ITEM-00", 2)]))
    assert outcome == "out of stock: ITEM-00; order cancelled already (changed my mind)"
    assert system.orders.get_order(order_id).cancel_reason == "changed my mind"
    assert system.inventory.stock("ITEM-00").reserved == 0
