"""Delivering effects: domain commands through the domain APIs, emails and payments through their ports.

Every delivery is idempotent by what it carries, so the one duplicate a
crash can cause changes nothing: a reservation for an order already made, a
release of nothing held, a cancellation with the same reason, a payment
with the same reference are no-ops; an email carries the effect's key as its
Message-ID, a capture as its idempotency key.

A broken domain rule (an order that can no longer be cancelled, say) will
not pass by trying again: a permanent :class:`DeliveryError`. A conflict
that outlived the domain API's own retries, a database or a receiver that is
down may: a retryable one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import OperationalError

from adapters.bootstrap import System
from adapters.mail import Mail, MailDeliveryError, Mailer
from adapters.payments import PaymentGateway, PaymentGatewayError
from adapters.reactors.dispatcher import Deliverer, DeliveryError
from domain.application import Orders
from domain.errors import ConcurrencyError, OrderError
from domain.inventory import Inventory
from domain.order import OrderStatus
from reactors.contract import Command, Effect, Email, PaymentCapture


class Delivery:
    """Carries out effects: ``deliver(key, effect)`` returns what came of it, or raises :class:`DeliveryError`."""

    def __init__(
        self,
        orders: Callable[[], Orders],
        inventory: Callable[[], Inventory],
        mailer: Callable[[], Mailer],
        payments: Callable[[], PaymentGateway],
    ) -> None:
        # Each part opened only when an effect needs it (a run of the payment
        # reactor alone never opens the mailer).
        self._orders = orders
        self._inventory = inventory
        self._mailer = mailer
        self._payments = payments

    def __call__(self, key: str, effect: Effect) -> str:
        try:
            if isinstance(effect, Command):
                return self._command(effect)
            if isinstance(effect, Email):
                return self._email(key, effect)
            if isinstance(effect, PaymentCapture):
                return self._capture(key, effect)
        except OrderError as e:
            raise DeliveryError(f"refused by the domain: {e}", retryable=False) from e
        except (ConcurrencyError, PersistenceError, OperationalError, OSError) as e:
            raise DeliveryError(f"{type(e).__name__}: {e}", retryable=True) from e
        raise DeliveryError(f"no delivery for a {type(effect).__name__}", retryable=False)

    # ---- domain commands ------------------------------------------------

    def _command(self, command: Command) -> str:
        handler = {
            ("inventory", "reserve"): self._reserve,
            ("inventory", "release"): self._release,
            ("inventory", "ship"): self._ship,
            ("orders", "cancel"): self._cancel,
        }.get((command.target, command.action))
        if handler is None:
            raise DeliveryError(f"unknown command {command.target}.{command.action}", retryable=False)
        return handler(command.args)

    def _reserve(self, args: dict[str, Any]) -> str:
        """Reserve an order's lines; if one is short, the inventory released the rest: cancel the order."""
        order_id = args["order_id"]
        reservation = self._inventory().reserve_for_order(order_id, [(sku, int(q)) for sku, q in args["lines"]])
        if reservation.complete:
            return f"reserved {', '.join(f'{q} x {sku}' for sku, q in sorted(reservation.lines.items()))}"
        reason = f"out of stock: {reservation.short_sku}"
        view = self._orders().get_order(order_id)
        if view.status is OrderStatus.CANCELLED:
            # Cancelled meanwhile (by the customer, or short of another SKU): nothing left to do.
            return f"{reason}; order cancelled already ({view.cancel_reason})"
        if view.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            return f"{reason}; order {view.status.value} already, not cancelled"
        self._orders().cancel(order_id, reason)
        return f"cancelled the order ({reason})"

    def _release(self, args: dict[str, Any]) -> str:
        self._inventory().release_order(args["order_id"], args["skus"])
        return f"released {', '.join(args['skus'])}"

    def _ship(self, args: dict[str, Any]) -> str:
        self._inventory().ship_order(args["order_id"], args["skus"])
        return f"shipped {', '.join(args['skus'])}"

    def _cancel(self, args: dict[str, Any]) -> str:
        self._orders().cancel(args["order_id"], args["reason"])
        return f"cancelled ({args['reason']})"

    # ---- the outside ------------------------------------------------------

    def _email(self, key: str, email: Email) -> str:
        try:
            self._mailer().send(Mail(to=email.to, subject=email.subject, text=email.body, key=key))
        except MailDeliveryError as e:
            raise DeliveryError(f"mail to {email.to}: {e}", retryable=e.retryable) from e
        return f"mailed {email.to}"

    def _capture(self, key: str, capture: PaymentCapture) -> str:
        """Capture a confirmed order's total; record the payment, or cancel the order if declined."""
        orders = self._orders()
        view = orders.get_order(capture.order_id)
        if view.status is not OrderStatus.CONFIRMED:
            return f"nothing to capture: the order is {view.status.value}"
        try:
            result = self._payments().capture(capture.order_id, view.total, view.currency, idempotency_key=key)
        except PaymentGatewayError as e:
            raise DeliveryError(f"payment gateway: {e}", retryable=True) from e
        if result.approved:
            assert result.reference is not None  # an approved capture has one
            orders.record_payment(capture.order_id, result.reference, view.total, view.currency)
            return f"captured {view.total} {view.currency} ({result.reference})"
        reason = f"payment declined: {result.decline_reason or 'no reason given'}"
        orders.cancel(capture.order_id, reason)
        return f"cancelled the order ({reason})"


def delivery_for(system: System) -> Deliverer:
    """The delivery of effects through ``system``'s domain APIs, mailer and payment gateway."""
    return Delivery(
        orders=lambda: system.orders,
        inventory=lambda: system.inventory,
        mailer=lambda: system.mailer,
        payments=lambda: system.payment_gateway,
    )
