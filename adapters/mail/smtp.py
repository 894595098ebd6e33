"""Mail over real SMTP (the standard library's ``smtplib``), one connection kept open between sends.

Why ``smtplib`` and not aiosmtplib: the :class:`~adapters.mail.port.Mailer`
port is blocking (the dispatcher runs it in a thread from asyncio), so an
asyncio client would need a loop per call; ``smtplib`` has the same protocol
coverage (STARTTLS, implicit TLS, AUTH, SMTPUTF8) and adds no dependency.

How failures are classed (``MailDeliveryError.retryable``):

- while connecting (connect, greeting, EHLO, STARTTLS, login): always
  retryable, whatever the reply code: nothing is wrong with the mail, and
  fixing the server or the configuration lets it through;
- in the mail transaction (MAIL FROM, RCPT TO, DATA): a 5xx reply, or a
  non-ASCII address the server cannot carry (no SMTPUTF8), is permanent;
  a 4xx reply, a timeout or a lost connection is retryable.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr

from adapters.config import SmtpLocation
from adapters.mail.message import build_message, utc_now
from adapters.mail.port import Mail, MailDeliveryError, Mailer

# A reused connection that fails like this was most likely closed by the server while idle.
STALE = (smtplib.SMTPServerDisconnected, ConnectionError)


class SmtpConnectError(Exception):
    """Opening the connection failed (kept apart: such a failure is always retryable)."""

    def __init__(self, error: smtplib.SMTPException | OSError) -> None:
        super().__init__(str(error))
        self.error = error


class SmtpMailer(Mailer):
    """Sends each mail over SMTP to ``location``, from ``mail_from`` (``ADDRESS`` or ``NAME <ADDRESS>``).

    Connects on the first send, then keeps the connection for the next ones;
    a reused connection found closed is replaced once within the same send
    (a server drops idle clients). Any failure closes the connection, so the
    next send starts clean. ``ssl_context`` verifies the server's certificate
    (default: the system's trust store). Sends are serialised by a lock.
    """

    def __init__(
        self,
        location: SmtpLocation,
        mail_from: str,
        *,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.location = location
        self.mail_from = mail_from
        self._sender = parseaddr(mail_from)[1]
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._clock = clock
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None

    def send(self, mail: Mail) -> None:
        message = build_message(mail, self.mail_from, self._clock())
        with self._lock:
            reused = self._smtp is not None
            try:
                try:
                    self._connection().send_message(message, self._sender, [mail.to])
                except STALE:
                    if not reused:
                        raise
                    self._close_connection()
                    self._connection().send_message(message, self._sender, [mail.to])
            except SmtpConnectError as failed:
                self._close_connection()
                raise MailDeliveryError(
                    mail.key,
                    f"cannot reach {self._server}: {describe(failed.error)}",
                    retryable=True,
                    code=getattr(failed.error, "smtp_code", None),
                ) from failed.error
            except (smtplib.SMTPException, OSError) as error:
                self._close_connection()
                raise transaction_error(mail.key, self._server, error) from error

    def close(self) -> None:
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                # Every mail sent was already accepted; a QUIT that fails loses nothing.
                smtp.close()

    @property
    def _server(self) -> str:
        return f"SMTP server {self.location.host}:{self.location.port}"

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as error:
                raise SmtpConnectError(error) from error
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        location = self.location
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if location.security == "tls":
            smtp = smtplib.SMTP_SSL(location.host, location.port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(location.host, location.port, timeout=self._timeout)
        try:
            smtp.ehlo()
            if location.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if location.user:
                smtp.login(location.user, location.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _close_connection(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def transaction_error(key: str, server: str, error: smtplib.SMTPException | OSError) -> MailDeliveryError:
    """The :class:`MailDeliveryError` for a failure during MAIL FROM, RCPT TO or DATA."""
    code: int | None = None
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [reply[0] for reply in error.recipients.values()]
        code = max(codes) if codes else None
    elif isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
    permanent = (code is not None and 500 <= code < 600) or isinstance(error, smtplib.SMTPNotSupportedError)
    return MailDeliveryError(key, f"{server}: {describe(error)}", retryable=not permanent, code=code)


def describe(error: BaseException) -> str:
    """One line: the server's reply, or what went wrong on the way."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"refused {address}: {reply_text(code, text)}" for address, (code, text) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return reply_text(error.smtp_code, error.smtp_error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"
