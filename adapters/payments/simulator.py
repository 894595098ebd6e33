"""A SIMULATED payment service provider: no money moves. The built-in gateway for the demo and tests.

Deterministic by ``(seed, idempotency key)``: the outcome and the reference
are derived from a SHA-256 of the two, so the same key gets the same answer
from every instance, in every process, after every restart, as a real
provider answers a repeated ``Idempotency-Key``. The share of declines
follows ``decline_rate`` over many keys; ``latency_ms`` is slept per call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from adapters.payments.port import Capture, PaymentGateway, PaymentGatewayError
from domain.money import MINOR_UNITS

DECLINE_REASONS = ("card declined", "insufficient funds", "card expired")


class SimulatedGateway(PaymentGateway):
    """A payment gateway simulator that keeps what it was asked, so tests can check nobody is charged twice.

    It checks requests as a provider would (a ``float`` amount is a
    ``TypeError``; an unsupported currency, an amount not positive or not
    exact to the currency's minor unit, or a key reused with other
    parameters a non-retryable :class:`PaymentGatewayError`). ``captures``
    maps each idempotency key to its :class:`Capture`; ``charge_count`` and
    :meth:`charges_by_order` count approved captures by distinct key. It
    never fails for want of an answer: no :class:`PaymentGatewayError` is
    retryable here. ``sleep`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        decline_rate: float = 0.1,
        seed: int = 7,
        latency_ms: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= decline_rate <= 1:
            raise ValueError(f"decline_rate {decline_rate!r} must be between 0 and 1")
        if latency_ms < 0:
            raise ValueError(f"latency_ms {latency_ms!r} must be at least 0")
        self.decline_rate = decline_rate
        self.seed = seed
        self.latency_ms = latency_ms
        self._sleep = sleep
        self._lock = threading.Lock()
        self._captures: dict[str, Capture] = {}
        self._requests: dict[str, tuple[str, Decimal, str]] = {}
        self.calls = 0

    def capture(self, order_id: str, amount: Decimal, currency: str, idempotency_key: str) -> Capture:
        check_request(order_id, amount, currency, idempotency_key)
        if self.latency_ms:
            self._sleep(self.latency_ms / 1000)  # outside the lock: calls overlap, as over a network
        with self._lock:
            self.calls += 1
            request = (order_id, amount, currency)
            earlier = self._requests.get(idempotency_key)
            if earlier is not None:
                if earlier != request:
                    raise PaymentGatewayError(
                        f"idempotency key {idempotency_key!r} was used for {describe(*earlier)}, "
                        f"not {describe(*request)}",
                        retryable=False,
                    )
                return self._captures[idempotency_key]
            capture = self.outcome(idempotency_key)
            self._requests[idempotency_key] = request
            self._captures[idempotency_key] = capture
            return capture

    def outcome(self, idempotency_key: str) -> Capture:
        """What a capture with ``idempotency_key`` gets (pure: records nothing)."""
        digest = hashlib.sha256(f"{self.seed}\0{idempotency_key}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        reference = f"sim_{digest[8:20].hex()}"
        if draw < self.decline_rate:
            return Capture.decline(DECLINE_REASONS[digest[20] % len(DECLINE_REASONS)], reference)
        return Capture.approve(reference)

    @property
    def captures(self) -> Mapping[str, Capture]:
        """Idempotency key -> the capture it got (a snapshot)."""
        with self._lock:
            return MappingProxyType(dict(self._captures))

    @property
    def charge_count(self) -> int:
        """Distinct approved captures: money actually taken."""
        return sum(self.charges_by_order().values())

    def charges_by_order(self) -> dict[str, int]:
        """Order id -> approved captures under distinct keys (more than 1: charged twice)."""
        with self._lock:
            return dict(
                Counter(self._requests[key][0] for key, capture in self._captures.items() if capture.approved)
            )


def check_request(order_id: str, amount: Decimal, currency: str, idempotency_key: str) -> None:
    """Refuse what a provider would refuse: a non-retryable :class:`PaymentGatewayError` (a float: TypeError)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}: {amount!r}")
    problem = None
    if not order_id or not idempotency_key:
        problem = "an order id and an idempotency key are required"
    elif currency not in MINOR_UNITS:
        problem = f"currency {currency!r} is not supported"
    elif not amount.is_finite() or amount <= 0:
        problem = f"amount {amount} must be greater than zero"
    elif not exact_to_minor_unit(amount, currency):
        problem = f"amount {amount} is not exact to the minor unit of {currency}"
    if problem:
        raise PaymentGatewayError(problem, retryable=False)


def exact_to_minor_unit(amount: Decimal, currency: str) -> bool:
    try:
        return amount == amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))
    except InvalidOperation:  # more digits than the context holds: no real amount
        return False


def describe(order_id: str, amount: Decimal, currency: str) -> str:
    return f"{amount} {currency} on order {order_id}"
