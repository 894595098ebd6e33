"""The payment gateway the settings ask for: today always the simulator, from ``ORDERS_PAYMENT_*``."""

from __future__ import annotations

from adapters.config import Settings
from adapters.payments.port import PaymentGateway
from adapters.payments.simulator import SimulatedGateway


def open_payment_gateway(settings: Settings) -> PaymentGateway:
    """A :class:`PaymentGateway` for ``settings`` (its caller closes it)."""
    return SimulatedGateway(
        decline_rate=settings.payment_decline_rate,
        seed=settings.payment_seed,
        latency_ms=settings.payment_latency_ms,
    )
