"""Read models: the projection contract and the built-in projections.

``BUILT_IN`` lists the projections that ship with orderstream; the
framework's registry adds the ones registered under the
``orderstream.projections`` entry-point group and those named in
``ORDERS_PROJECTIONS``.
"""

from projections.customer_orders import CustomerOrders
from projections.order_summary import OrderSummary
from projections.product_sales import ProductSales

BUILT_IN = [OrderSummary, CustomerOrders, ProductSales]

__all__ = ["BUILT_IN", "CustomerOrders", "OrderSummary", "ProductSales"]
