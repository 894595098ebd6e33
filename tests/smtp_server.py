"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it accepts: a pytest plugin.

Registered in tests/conftest.py, so every test directory (local, integration)
can take the fixture:

  smtp_server  (function)  RecordingSmtpServer, listening on a free port; stopped afterwards

    def test_a_mail_arrives(smtp_server):
        mailer = SmtpMailer(smtp_server.location, "orders@example.com")  # or Settings(smtp_url=smtp_server.url)
        mailer.send(Mail(...))
        [received] = smtp_server.received          # Received: mail_from, rcpt_tos, data, .message
        assert smtp_server.message_ids() == [...]  # what a crash test counts (duplicates included)

``refuse(address, reply)`` makes RCPT TO for that address answer ``reply``
(e.g. "550 5.1.1 no such mailbox"); ``data_reply`` answers every DATA with
a reply of your choosing instead of accepting; ``greetings`` and ``quits``
count EHLOs (connections) and QUITs; ``stop()`` and ``start()``
take the server down and bring it back on the same port (an outage);
``wait_for(count)`` waits until that many mails were accepted.

  make_smtp_server  (function)  factory: make_smtp_server(security="plain", user=None, password=None)

``security`` "starttls" requires STARTTLS before anything else, "tls" speaks
TLS from the first byte (both with the test-only certificate in tests/tls,
which ``client_ssl_context()`` trusts); with ``user`` and ``password`` the
server offers AUTH (requires it before MAIL FROM under STARTTLS) and
refuses other credentials with 535.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.config import SmtpLocation

HOST = "127.0.0.1"
TLS = Path(__file__).resolve().parent / "tls"
SCHEMES = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}


@dataclass(frozen=True)
class Received:
    """One mail the server accepted: the envelope and the bytes of the message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))


class RecordingSmtpServer:
    """An aiosmtpd server in a thread of its own; see the module docstring."""

    def __init__(self, port: int, security: str = "plain", user: str | None = None, password: str = "") -> None:
        self.host = HOST
        self.port = port
        self.security = security
        self.user = user
        self.password = password
        self.received: list[Received] = []
        self.refused: dict[str, str] = {}
        self.data_reply: str | None = None
        self.greetings = 0  # EHLOs seen: one per connection of a plain-SMTP client
        self.quits = 0
        self._accepted = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@" if self.user else ""
        return f"{SCHEMES[self.security]}://{credentials}{self.host}:{self.port}"

    @property
    def location(self) -> SmtpLocation:
        return SmtpLocation(self.security, self.host, self.port, self.user or "", self.password)

    @staticmethod
    def client_ssl_context() -> ssl.SSLContext:
        """A client context that trusts the test certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(TLS / "cert.pem"))

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            # server_hostname: without it aiosmtpd asks the resolver for this machine's FQDN.
            controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, server_hostname="localhost", **self._options()
            )
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.security != "plain":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
            if self.security == "tls":
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        if self.user is not None:
            # aiosmtpd only counts STARTTLS as TLS: under implicit TLS it would hide AUTH if it "required
            # TLS", and warns if it requires AUTH without requiring TLS. So there AUTH is offered, not required.
            starttls = self.security == "starttls"
            options.update(authenticator=self._authenticate, auth_required=starttls, auth_require_tls=starttls)
        return options

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        given = (data.login, data.password) if isinstance(data, LoginPassword) else None
        expected = ((self.user or "").encode(), self.password.encode())
        # handled=False: aiosmtpd then answers a failure with 535 itself (True would leave the client waiting).
        return AuthResult(success=given == expected, handled=False)

    def refuse(self, address: str, reply: str = "550 5.1.1 no such mailbox") -> None:
        self.refused[address] = reply

    def messages(self) -> list[EmailMessage]:
        return [received.message for received in self.received]

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages()]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The mails accepted once there are at least ``count``; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._accepted:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the SMTP server accepted {len(self.received)} mails, not {count}")
                self._accepted.wait(left)
            return list(self.received)

    def _accept(self, received: Received) -> None:
        with self._accepted:
            self.received.append(received)
            self._accepted.notify_all()


class _Handler:
    """aiosmtpd's handler hooks (called on the server's own event loop)."""

    def __init__(self, server: RecordingSmtpServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        self.server.greetings += 1
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.server.refused.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.data_reply is not None:
            return self.server.data_reply
        self.server._accept(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port nothing listens on now (the OS's choice; a test binds it right after)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., RecordingSmtpServer]]:
    started: list[RecordingSmtpServer] = []

    def make(security: str = "plain", user: str | None = None, password: str = "") -> RecordingSmtpServer:
        server = RecordingSmtpServer(free_port(), security, user, password)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., RecordingSmtpServer]) -> RecordingSmtpServer:
    return make_smtp_server()
