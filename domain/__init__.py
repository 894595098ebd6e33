"""The order domain: the Order aggregate, its events and rules, the domain API."""

from domain.application import Orders
from domain.errors import ConcurrencyError, OrderError
from domain.order import Order, OrderStatus
from domain.views import LineView, OrderView

__all__ = ["ConcurrencyError", "LineView", "Order", "OrderError", "OrderStatus", "OrderView", "Orders"]
