"""The payment reactor: a confirmed order's payment is captured through the payment gateway.

On ``Order.Confirmed`` it asks for a capture (the dispatcher calls the
gateway with the effect's key as idempotency key, then records the payment
on the order, or cancels the order if the capture is declined). No state.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from domain.order import Order
from domain.records import EventRecord
from projections.contract import Rows
from reactors.contract import Effect, PaymentCapture, Reactor, reacts_to


class PaymentReactor(Reactor):
    name = "payment"
    version = 1
    metadata = MetaData()

    @reacts_to(Order.Confirmed)
    def confirmed(self, rows: Rows, event: EventRecord) -> list[Effect]:
        return [PaymentCapture(order_id=event.aggregate_id)]
