"""The order domain: the Order and Stock aggregates, their events and rules, the domain APIs."""

from domain.application import Orders
from domain.errors import ConcurrencyError, OrderError, StockError
from domain.inventory import Inventory, Reservation, Shortage
from domain.order import Order, OrderStatus
from domain.stock import Stock
from domain.views import LineView, OrderView, StockView

__all__ = [
    "ConcurrencyError",
    "Inventory",
    "LineView",
    "Order",
    "OrderError",
    "OrderStatus",
    "OrderView",
    "Orders",
    "Reservation",
    "Shortage",
    "Stock",
    "StockError",
    "StockView",
]
