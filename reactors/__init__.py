"""Reactors: consumers that act on order events (the contract and the built-in ones).

``BUILT_IN`` lists the reactors that ship with orderstream; the framework's
registry adds the ones registered under the ``orderstream.reactors``
entry-point group and those named in ``ORDERS_REACTORS``.
"""

from reactors.builtin.inventory import InventoryReactor
from reactors.builtin.notification import NotificationReactor
from reactors.builtin.payment import PaymentReactor

BUILT_IN = [InventoryReactor, PaymentReactor, NotificationReactor]

__all__ = ["BUILT_IN", "InventoryReactor", "NotificationReactor", "PaymentReactor"]
