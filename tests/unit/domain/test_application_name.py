from domain.application import Orders
from domain.inventory import Inventory


def test_a_subclass_of_orders_keeps_the_pinned_application_name():
    # PostgreSQL table names follow the application name; a subclass must share the events.
    class InstrumentedOrders(Orders):
        pass

    assert InstrumentedOrders.name == "Orders"


def test_a_subclass_of_inventory_keeps_the_pinned_application_name():
    class InstrumentedInventory(Inventory):
        pass

    assert InstrumentedInventory.name == "Inventory"
