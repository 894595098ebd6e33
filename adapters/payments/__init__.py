"""Taking payment: the port (``port``), the built-in simulator (``simulator``), the choice (``wiring``)."""

from adapters.payments.port import Capture, PaymentGateway, PaymentGatewayError
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.wiring import open_payment_gateway

__all__ = ["Capture", "PaymentGateway", "PaymentGatewayError", "SimulatedGateway", "open_payment_gateway"]
