"""The Order aggregate: its events, its rules and its state.

Rules are checked in the public command methods, before an event is
triggered. The ``@event`` bodies (and ``__init__``, the body of ``Placed``) only
assign state, so stored history always replays, whatever the rules become.

Every event has a stable, explicit topic (``Order.Placed`` ...) that never
changes; shapes evolve with ``class_version`` and ``upcast_vN_vN+1``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    DuplicateLineError,
    DuplicatePaymentError,
    EmptyOrderError,
    IdempotencyKeyConflictError,
    InvalidAddressError,
    InvalidChannelError,
    InvalidCustomerError,
    InvalidIdempotencyKeyError,
    InvalidPaymentReferenceError,
    InvalidShipmentError,
    InvalidTransitionError,
    LineNotFoundError,
    MissingShippingAddressError,
    PaymentMismatchError,
    PaymentReferenceConflictError,
    TooManyLinesError,
)
from domain.money import (
    MAX_LINES,
    check_currency,
    check_quantity,
    check_sku,
    check_unit_price,
    to_money,
)

# Namespace of the deterministic order ids derived from idempotency keys.
IDEMPOTENCY_NAMESPACE = UUID("6f1c2a5e-3c1b-4f57-9a43-7d2f0a8b9e10")
CHANNELS = ("web", "mobile", "store", "phone", "marketplace")
ADDRESS_FIELDS = ("name", "street", "city", "postal_code", "country")


class OrderStatus(str, Enum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


CANCELLABLE = (OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.PAID)


def order_id_for_key(idempotency_key: str) -> UUID:
    """The order id that an idempotency key always maps to."""
    return uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key)


def placement_fingerprint(
    customer_id: str, currency: str, channel: str, lines: list[dict[str, Any]]
) -> str:
    """A digest of what was asked for, to tell a retry from a different request."""
    canonical = json.dumps(
        {
            "customer_id": customer_id,
            "currency": currency,
            "channel": channel,
            "lines": [[ln["sku"], ln["quantity"], str(ln["unit_price"])] for ln in lines],
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Order(Aggregate, created_event_name="Placed"):
    """An order, from placement to delivery or cancellation."""

    TOPIC = "Order"

    class Created(Aggregate.Created):
        # eventsourcing requires every event class of an aggregate with explicit
        # topics to carry one; orders are created by ``Placed``, never by this.
        TOPIC = "Order.Created"

    class Placed(Aggregate.Created):
        TOPIC = "Order.Placed"
        class_version = 2
        customer_id: str
        currency: str
        lines: list[dict[str, Any]]
        channel: str
        idempotency_key: str | None
        fingerprint: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 orders all came through the web shop.
            state["channel"] = "web"

    class LineAdded(Aggregate.Event):
        TOPIC = "Order.LineAdded"
        sku: str
        quantity: int
        unit_price: Decimal

    class LineRemoved(Aggregate.Event):
        TOPIC = "Order.LineRemoved"
        sku: str

    class QuantityChanged(Aggregate.Event):
        TOPIC = "Order.QuantityChanged"
        sku: str
        quantity: int

    class ShippingAddressSet(Aggregate.Event):
        TOPIC = "Order.ShippingAddressSet"
        address: dict[str, str]

    class Confirmed(Aggregate.Event):
        TOPIC = "Order.Confirmed"

    class Paid(Aggregate.Event):
        TOPIC = "Order.Paid"
        payment_reference: str
        amount: Decimal

    class Shipped(Aggregate.Event):
        TOPIC = "Order.Shipped"
        carrier: str
        tracking_number: str

    class Delivered(Aggregate.Event):
        TOPIC = "Order.Delivered"

    class Cancelled(Aggregate.Event):
        TOPIC = "Order.Cancelled"
        reason: str
        refund_due: Decimal

    def __init__(
        self,
        customer_id: str,
        currency: str,
        lines: list[dict[str, Any]],
        channel: str,
        idempotency_key: str | None,
        fingerprint: str,
    ) -> None:
        self.customer_id = customer_id
        self.currency = currency
        self.channel = channel
        self.idempotency_key = idempotency_key
        self.fingerprint = fingerprint
        self.status = OrderStatus.PLACED
        self.lines: dict[str, dict[str, Any]] = {
            ln["sku"]: {"quantity": ln["quantity"], "unit_price": ln["unit_price"]}
            for ln in lines
        }
        self.shipping_address: dict[str, str] | None = None
        self.payment_reference: str | None = None
        self.amount_paid: Decimal | None = None
        self.carrier: str | None = None
        self.tracking_number: str | None = None
        self.cancel_reason: str | None = None
        self.refund_due: Decimal | None = None

    # ---- creation -------------------------------------------------------

    @classmethod
    def place(
        cls,
        customer_id: str,
        lines: Sequence[tuple[str, int | str, Decimal | str]],
        currency: str = "EUR",
        channel: str = "web",
        idempotency_key: str | None = None,
    ) -> Order:
        """Place a new order. ``lines`` are ``(sku, quantity, unit_price)``."""
        customer = str(customer_id).strip()
        if not customer or len(customer) > 64:
            raise InvalidCustomerError("customer id must be 1-64 characters")
        currency = check_currency(currency)
        if channel not in CHANNELS:
            raise InvalidChannelError(f"channel {channel!r} is unknown; use one of {', '.join(CHANNELS)}")
        if not lines:
            raise EmptyOrderError("an order needs at least one line; give SKU, quantity and price")
        if len(lines) > MAX_LINES:
            raise TooManyLinesError(f"an order has at most {MAX_LINES} lines, got {len(lines)}")
        checked = checked_lines(lines, currency)
        if idempotency_key is not None:
            idempotency_key = str(idempotency_key)
            if not 1 <= len(idempotency_key) <= 128:
                raise InvalidIdempotencyKeyError("idempotency key must be 1-128 characters")
            order_id = order_id_for_key(idempotency_key)
        else:
            order_id = uuid4()
        return cls._create(
            cls.Placed,
            id=order_id,
            customer_id=customer,
            currency=currency,
            lines=checked,
            channel=channel,
            idempotency_key=idempotency_key,
            fingerprint=placement_fingerprint(customer, currency, channel, checked),
        )

    def check_same_placement(
        self,
        customer_id: str,
        lines: Sequence[tuple[str, int | str, Decimal | str]],
        currency: str,
        channel: str,
    ) -> None:
        """Raise unless a retried placement asks for exactly what this order holds."""
        currency = check_currency(currency)
        checked = checked_lines(lines, currency)
        fingerprint = placement_fingerprint(str(customer_id).strip(), currency, channel, checked)
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyConflictError(
                f"idempotency key {self.idempotency_key!r} was already used for order "
                f"{self.id} with a different payload; use a new key for a new order"
            )

    # ---- derived values -------------------------------------------------

    @property
    def total(self) -> Decimal:
        total = sum(
            (ln["unit_price"] * ln["quantity"] for ln in self.lines.values()),
            start=Decimal(0),
        )
        return to_money(total, self.currency, what="total")

    # ---- commands -------------------------------------------------------

    def add_line(self, sku: str, quantity: int | str, unit_price: Decimal | str) -> None:
        self._require_status(OrderStatus.PLACED, "add a line")
        sku = check_sku(sku)
        if sku in self.lines:
            raise DuplicateLineError(
                f"order {self.id} already has a line for {sku}; change its quantity instead"
            )
        if len(self.lines) >= MAX_LINES:
            raise TooManyLinesError(f"order {self.id} already has the maximum of {MAX_LINES} lines")
        self._add_line(
            sku=sku,
            quantity=check_quantity(quantity),
            unit_price=check_unit_price(unit_price, self.currency),
        )

    @event(LineAdded)
    def _add_line(self, sku: str, quantity: int, unit_price: Decimal) -> None:
        self.lines[sku] = {"quantity": quantity, "unit_price": unit_price}

    def remove_line(self, sku: str) -> None:
        self._require_status(OrderStatus.PLACED, "remove a line")
        self._remove_line(sku=self._require_line(sku))

    @event(LineRemoved)
    def _remove_line(self, sku: str) -> None:
        del self.lines[sku]

    def change_quantity(self, sku: str, quantity: int | str) -> None:
        self._require_status(OrderStatus.PLACED, "change a quantity")
        sku = self._require_line(sku)
        quantity = check_quantity(quantity)
        if self.lines[sku]["quantity"] == quantity:
            return  # already so: nothing happened, nothing to record
        self._change_quantity(sku=sku, quantity=quantity)

    @event(QuantityChanged)
    def _change_quantity(self, sku: str, quantity: int) -> None:
        self.lines[sku] = {**self.lines[sku], "quantity": quantity}

    def set_shipping_address(self, address: dict[str, str]) -> None:
        if self.status not in (OrderStatus.PLACED, OrderStatus.CONFIRMED):
            raise InvalidTransitionError(
                f"order {self.id} is {self.status.value}; the shipping address can only "
                "change before payment"
            )
        self._set_shipping_address(address=check_address(address))

    @event(ShippingAddressSet)
    def _set_shipping_address(self, address: dict[str, str]) -> None:
        self.shipping_address = dict(address)

    def confirm(self) -> None:
        self._require_status(OrderStatus.PLACED, "confirm it")
        if not self.lines:
            raise EmptyOrderError(f"order {self.id} has no lines; add a line before confirming")
        if self.shipping_address is None:
            raise MissingShippingAddressError(
                f"order {self.id} has no shipping address; set one before confirming"
            )
        self._confirm()

    @event(Confirmed)
    def _confirm(self) -> None:
        self.status = OrderStatus.CONFIRMED

    def record_payment(self, payment_reference: str, amount: Decimal | str, currency: str) -> None:
        reference = str(payment_reference).strip()
        if not reference or len(reference) > 64:
            raise InvalidPaymentReferenceError("payment reference must be 1-64 characters")
        if self.payment_reference is not None:
            if reference == self.payment_reference:
                self._check_same_payment(reference, amount, currency)
                return  # the same payment recorded again: already done
            raise DuplicatePaymentError(
                f"order {self.id} is already paid by {self.payment_reference}; "
                f"refund payment {reference} instead of recording it"
            )
        self._require_status(OrderStatus.CONFIRMED, "record a payment")
        currency = check_currency(currency)
        if currency != self.currency:
            raise PaymentMismatchError(
                f"order {self.id} is in {self.currency}, the payment is in {currency}; "
                f"pay {self.total} {self.currency}"
            )
        paid = to_money(amount, currency, what="payment amount")
        if paid != self.total:
            raise PaymentMismatchError(
                f"payment of {paid} {currency} does not match the order total; "
                f"pay exactly {self.total} {self.currency}"
            )
        self._pay(payment_reference=reference, amount=paid)

    def _check_same_payment(self, reference: str, amount: Decimal | str, currency: str) -> None:
        """Raise unless a repeat of the recorded payment gives the amount and currency recorded."""
        currency = check_currency(currency)
        same = currency == self.currency and to_money(amount, currency, what="payment amount") == self.amount_paid
        if not same:
            raise PaymentReferenceConflictError(
                f"payment {reference} was recorded on order {self.id} as {self.amount_paid} "
                f"{self.currency}, not {amount} {currency}; a repeat must give the same amount "
                "and currency, a different payment needs a new reference"
            )

    @event(Paid)
    def _pay(self, payment_reference: str, amount: Decimal) -> None:
        self.status = OrderStatus.PAID
        self.payment_reference = payment_reference
        self.amount_paid = amount

    def ship(self, carrier: str, tracking_number: str) -> None:
        self._require_status(OrderStatus.PAID, "ship it")
        carrier, tracking_number = str(carrier).strip(), str(tracking_number).strip()
        if not carrier or not tracking_number or len(carrier) > 64 or len(tracking_number) > 64:
            raise InvalidShipmentError("carrier and tracking number must each be 1-64 characters")
        self._ship(carrier=carrier, tracking_number=tracking_number)

    @event(Shipped)
    def _ship(self, carrier: str, tracking_number: str) -> None:
        self.status = OrderStatus.SHIPPED
        self.carrier = carrier
        self.tracking_number = tracking_number

    def mark_delivered(self) -> None:
        self._require_status(OrderStatus.SHIPPED, "mark it delivered")
        self._deliver()

    @event(Delivered)
    def _deliver(self) -> None:
        self.status = OrderStatus.DELIVERED

    def cancel(self, reason: str) -> None:
        """Cancel the order; cancelling a cancelled order again with the same reason records nothing."""
        reason = (str(reason).strip() or "no reason given")[:200]
        if self.status is OrderStatus.CANCELLED and reason == self.cancel_reason:
            return  # the same cancellation again (a retry): already done
        if self.status not in CANCELLABLE:
            already = f" (with reason {self.cancel_reason!r})" if self.status is OrderStatus.CANCELLED else ""
            raise InvalidTransitionError(
                f"order {self.id} is {self.status.value}{already} and can no longer be cancelled; "
                "only placed, confirmed or paid orders can"
            )
        refund = Decimal(0)
        if self.status is OrderStatus.PAID:
            assert self.amount_paid is not None  # set by _pay together with PAID
            refund = self.amount_paid
        self._cancel(reason=reason, refund_due=to_money(refund, self.currency))

    @event(Cancelled)
    def _cancel(self, reason: str, refund_due: Decimal) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = reason
        self.refund_due = refund_due

    # ---- rule helpers ---------------------------------------------------

    def _require_status(self, required: OrderStatus, action: str) -> None:
        if self.status is not required:
            raise InvalidTransitionError(
                f"cannot {action}: order {self.id} is {self.status.value}, "
                f"it must be {required.value}"
            )

    def _require_line(self, sku: str) -> str:
        sku = check_sku(sku)
        if sku not in self.lines:
            raise LineNotFoundError(
                f"order {self.id} has no line for {sku}; its lines are "
                f"{', '.join(sorted(self.lines)) or 'none'}"
            )
        return sku


def checked_lines(
    lines: Sequence[tuple[str, int | str, Decimal | str]], currency: str
) -> list[dict[str, Any]]:
    """``(sku, quantity, unit_price)`` lines as validated line values, each SKU once."""
    checked: list[dict[str, Any]] = []
    for sku, quantity, price in lines:
        sku = check_sku(sku)
        if any(ln["sku"] == sku for ln in checked):
            raise DuplicateLineError(f"SKU {sku} appears twice; give it once with the total quantity")
        checked.append(
            {
                "sku": sku,
                "quantity": check_quantity(quantity),
                "unit_price": check_unit_price(price, currency),
            }
        )
    return checked


def check_address(address: dict[str, str]) -> dict[str, str]:
    missing = [f for f in ADDRESS_FIELDS if not str(address.get(f, "")).strip()]
    if missing:
        raise InvalidAddressError(
            f"shipping address is missing {', '.join(missing)}; "
            f"give all of {', '.join(ADDRESS_FIELDS)}"
        )
    unknown = sorted(set(address) - set(ADDRESS_FIELDS))
    if unknown:
        raise InvalidAddressError(
            f"shipping address has unknown fields {', '.join(unknown)}; "
            f"use only {', '.join(ADDRESS_FIELDS)}"
        )
    cleaned = {f: str(address[f]).strip() for f in ADDRESS_FIELDS}
    if any(len(v) > 200 for v in cleaned.values()):
        raise InvalidAddressError("each shipping address field must be at most 200 characters")
    country = cleaned["country"].upper()
    if len(country) != 2 or not country.isalpha():
        raise InvalidAddressError(
            f"country {cleaned['country']!r} must be a two-letter ISO code such as DE"
        )
    cleaned["country"] = country
    return cleaned
