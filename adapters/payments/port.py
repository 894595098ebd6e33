"""The payment port: capturing an order's amount through a payment service provider.

The dispatcher calls :meth:`PaymentGateway.capture` for a payment effect and
marks it dispatched when it returns. A crash between the two calls it again
on restart with the same idempotency key (the effect key), so the gateway,
not the dispatcher, is what keeps a customer from being charged twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Capture:
    """What the provider answered: approved with its reference, or declined with a reason.

    ``reference`` identifies the charge at the provider (recorded on the order
    as its payment reference); a decline may carry the reference of the
    declined attempt. Built through :meth:`approve` and :meth:`decline`.
    """

    approved: bool
    reference: str | None
    decline_reason: str | None

    def __post_init__(self) -> None:
        if self.approved and (not self.reference or self.decline_reason is not None):
            raise ValueError("an approved capture has a reference and no decline reason")
        if not self.approved and not self.decline_reason:
            raise ValueError("a declined capture has a decline reason")

    @classmethod
    def approve(cls, reference: str) -> Capture:
        return cls(approved=True, reference=reference, decline_reason=None)

    @classmethod
    def decline(cls, reason: str, reference: str | None = None) -> Capture:
        return cls(approved=False, reference=reference, decline_reason=reason)


class PaymentGatewayError(Exception):
    """The provider gave no answer to act on; nothing is known to be charged or declined.

    ``retryable`` True: ask again later with the same idempotency key (a
    timeout, a lost connection, the provider's 5xx or rate limit); the
    first attempt may have charged, and the key makes the second return
    that charge instead of making another. ``retryable`` False: the request
    itself is wrong and will never succeed (an unsupported currency, an
    amount not exact to the currency's minor unit, an idempotency key reused
    for different parameters): record the effect as failed.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class PaymentGateway(ABC):
    """Captures money for an order, exactly once per idempotency key.

    What every adapter guarantees, and an adapter for a real provider must:

    - **Idempotent by key.** A second ``capture`` with an idempotency key
      already used returns the first call's :class:`Capture` (same outcome,
      same reference) and charges nothing more, even from another process or
      after a restart: pass the key to the provider (the ``Idempotency-Key``
      header of Stripe's and Adyen's APIs) rather than remembering it locally. The provider keeps keys
      for a limited time (Stripe: 24 hours): the dispatcher's retries must
      end well within it. The same key with another order, amount or
      currency is a non-retryable :class:`PaymentGatewayError`, never a
      second charge.
    - **A decline is an answer, not an error.** It returns
      ``Capture(approved=False, decline_reason=...)``; the reactor decides
      what follows (cancel the order). Retrying a decline with the same key
      gives the same decline.
    - **No answer is an error.** A timeout, a lost connection or the
      provider's 5xx raises a retryable :class:`PaymentGatewayError`; it
      never returns a guess. Every failure is a :class:`PaymentGatewayError`;
      any other exception is a bug.
    - **Money is Decimal.** ``amount`` is a :class:`~decimal.Decimal` exact to
      the currency's minor unit (``currency`` an ISO 4217 code); convert to the
      provider's integer minor units exactly, never through ``float``.
    - **No ordering.** Captures for different orders are independent; the
      adapter may run them concurrently and must be safe to share between
      threads. ``capture`` blocks (from asyncio, run it in a thread).
    """

    @abstractmethod
    def capture(self, order_id: str, amount: Decimal, currency: str, idempotency_key: str) -> Capture:
        """Charge ``amount`` in ``currency`` for ``order_id``, or return what ``idempotency_key`` already got."""

    def close(self) -> None:  # noqa: B027 - optional hook: adapters without connections need none
        """Release connections; the gateway is not used afterwards."""
