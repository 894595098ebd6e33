"""Immutable views of an order and of a SKU's stock, handed to callers instead of the aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping
from uuid import UUID

from domain.order import Order, OrderStatus
from domain.stock import Stock


@dataclass(frozen=True)
class LineView:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class OrderView:
    order_id: UUID
    version: int
    customer_id: str
    channel: str
    currency: str
    status: OrderStatus
    lines: tuple[LineView, ...]
    total: Decimal
    shipping_address: Mapping[str, str] | None
    payment_reference: str | None
    amount_paid: Decimal | None
    carrier: str | None
    tracking_number: str | None
    cancel_reason: str | None
    refund_due: Decimal | None
    placed_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            order_id=order.id,
            version=order.version,
            customer_id=order.customer_id,
            channel=order.channel,
            currency=order.currency,
            status=order.status,
            lines=tuple(
                LineView(sku, ln["quantity"], ln["unit_price"])
                for sku, ln in sorted(order.lines.items())
            ),
            total=order.total,
            shipping_address=(
                MappingProxyType(dict(order.shipping_address))
                if order.shipping_address is not None
                else None
            ),
            payment_reference=order.payment_reference,
            amount_paid=order.amount_paid,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            cancel_reason=order.cancel_reason,
            refund_due=order.refund_due,
            placed_at=order.created_on,
            updated_at=order.modified_on,
        )


@dataclass(frozen=True)
class StockView:
    """The stock of one SKU; ``version`` 0 is a SKU never restocked (nothing on hand)."""

    sku: str
    version: int
    on_hand: int
    reserved: int
    available: int
    reservations: Mapping[UUID, int]  # units held per order id

    @classmethod
    def of(cls, stock: Stock) -> StockView:
        return cls(
            sku=stock.sku,
            version=stock.version,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            available=stock.available,
            reservations=MappingProxyType(dict(sorted(stock.reservations.items(), key=lambda kv: str(kv[0])))),
        )

    @classmethod
    def empty(cls, sku: str) -> StockView:
        return cls(sku=sku, version=0, on_hand=0, reserved=0, available=0, reservations=MappingProxyType({}))
