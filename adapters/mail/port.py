"""The mail port: what a reactor's outgoing email is, and what delivering one promises.

The dispatcher hands a :class:`Mail` to a :class:`Mailer` and marks the
effect dispatched when ``send`` returns. A crash between the two delivers the
mail again on restart, so every mail carries its effect key, and every
adapter turns the key into the same ``Message-ID`` on every attempt: a
receiver (a mail server's duplicate filter, a test's SMTP sink, the
``.eml`` directory) recognises the second copy and drops it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Mail:
    """One plain-text email to one recipient.

    ``key`` is the effect key that caused it (e.g. ``notification:<event id>:0``):
    deterministic, so a redelivery after a crash has the same identity.
    Nothing is checked here: an address or subject an adapter cannot send
    is a permanent :class:`MailDeliveryError` from :meth:`Mailer.send`, where
    the dispatcher records it against the effect.
    """

    to: str
    subject: str
    text: str
    key: str


class MailDeliveryError(Exception):
    """A mail was not (known to be) delivered.

    ``retryable`` True: try again later (server unreachable, a timeout, a 4xx
    reply, a login or TLS problem that configuration can fix); the mail may
    even have arrived (a connection lost after the data was sent), which is
    why the key travels with it. ``retryable`` False: this mail can never be
    delivered as it is (a 5xx reply to its sender, recipient or content, an
    address or subject that is not valid): record it as failed, do not retry.
    ``code`` is the SMTP reply code when a server gave one.
    """

    def __init__(self, key: str, reason: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(f"mail {key}: {reason}")
        self.key = key
        self.reason = reason
        self.retryable = retryable
        self.code = code


class Mailer(ABC):
    """Delivers :class:`Mail` to the outside world, at least once, each with a stable identity.

    What every adapter guarantees, and a new one (an HTTP mail API, say) must:

    - **Done means accepted.** ``send`` returns only once the transport has
      taken responsibility for the mail (SMTP: the server's 250 after DATA;
      a file: renamed into place). The dispatcher may then mark the effect
      dispatched.
    - **The key travels with the mail.** The same ``Mail.key`` always gives
      the same ``Message-ID`` (``message_id(key)`` in ``adapters.mail.message``),
      or, for an API, the provider's idempotency key. Retrying is therefore
      always safe: a duplicate is recognisable by whoever receives it.
    - **One error type.** Every failure is a :class:`MailDeliveryError`
      whose ``retryable`` says whether to try again; any other exception is a
      bug. ``send`` does not retry by itself beyond replacing a connection
      the server closed while idle: backoff and giving up belong to the
      dispatcher, which sees every effect.
    - **No ordering.** Two mails may arrive in either order (mail relays
      reorder anyway); nothing may depend on it.
    - **Blocking, thread-safe.** ``send`` blocks until done; one mailer may
      be shared by threads (sends are serialised). From asyncio, call it in a
      thread (``asyncio.to_thread``).
    """

    @abstractmethod
    def send(self, mail: Mail) -> None:
        """Deliver ``mail``; raise :class:`MailDeliveryError` if it was not (known to be) delivered."""

    def close(self) -> None:  # noqa: B027 - optional hook: adapters without connections need none
        """Release connections; the mailer is not used afterwards."""
