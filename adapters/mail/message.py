"""A :class:`~adapters.mail.port.Mail` as an RFC 5322 message, with a ``Message-ID`` made from its key.

Shared by every mail adapter, so the same key gives the same ``Message-ID``
whichever transport carries it. The key is made header-safe reversibly:
letters, digits, ``-`` and ``_`` stay, every other byte of its UTF-8 becomes
``=XX`` (``notification:42:0`` -> ``<notification=3A42=3A0@orderstream>``). A
key whose safe form would pass 200 characters keeps a prefix and a SHA-256
of the whole key instead.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr

from adapters.config import is_mail_address
from adapters.mail.port import Mail, MailDeliveryError

DOMAIN = "orderstream"
MAX_SAFE_KEY = 200
UNSAFE = re.compile(rb"[^A-Za-z0-9_-]")


class MailPolicy(EmailPolicy):
    """``email.policy.default``, except that ``Message-ID`` stays on its header line.

    The default folds a long one onto a continuation line: legal, but a
    reader that does not strip the folding whitespace would see another
    identity (" <id>"), and duplicates are recognised by comparing it.
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "message-id":
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "message-id":
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


POLICY = MailPolicy()


def utc_now() -> datetime:
    return datetime.now(UTC)


def header_safe(key: str) -> str:
    """``key`` as a dot-atom (the left part of a Message-ID, and a safe file name)."""
    safe = UNSAFE.sub(lambda m: b"=%02X" % m.group()[0], key.encode("utf-8")).decode("ascii")
    if len(safe) > MAX_SAFE_KEY:
        # "==" never occurs in an encoded key (every "=" is followed by a hex digit).
        safe = f"{safe[:100]}=={hashlib.sha256(key.encode('utf-8')).hexdigest()}"
    return safe


def message_id(key: str) -> str:
    """The ``Message-ID`` of every mail sent for ``key``: ``<SAFE-KEY@orderstream>``."""
    return f"<{header_safe(key)}@{DOMAIN}>"


def check_mail(mail: Mail) -> None:
    """Raise a permanent :class:`MailDeliveryError` for a mail no transport could send as it is."""
    problem = None
    if not mail.key:
        problem = "has no effect key"
    elif not is_mail_address(mail.to):
        problem = f"recipient {mail.to!r} is not a mail address"
    elif "\r" in mail.subject or "\n" in mail.subject:
        problem = "subject has a line break"
    if problem:
        raise MailDeliveryError(mail.key, problem, retryable=False)


def build_message(mail: Mail, mail_from: str, date: datetime) -> EmailMessage:
    """The message for ``mail`` from ``mail_from`` (``ADDRESS`` or ``NAME <ADDRESS>``), dated ``date``.

    Checked first (:func:`check_mail`). A body that is not ASCII is sent
    quoted-printable, so no server needs 8BITMIME.
    """
    check_mail(mail)
    message = EmailMessage(policy=POLICY)
    message["From"] = mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(mail.key)
    # RFC 3834: machine-sent, so autoresponders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, cte=None if mail.text.isascii() else "quoted-printable")
    return message


def needs_utf8(mail: Mail, mail_from: str) -> bool:
    """An address is not ASCII: the message needs SMTPUTF8 (RFC 6531) headers."""
    return not (mail.to.isascii() and parseaddr(mail_from)[1].isascii())
