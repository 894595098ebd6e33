"""Outgoing mail: the port (``port``), the message and its key-made ``Message-ID`` (``message``),
real SMTP (``smtp``), ``.eml`` files (``directory``) and the choice between them (``wiring``).
"""

from adapters.mail.directory import MailDirectory
from adapters.mail.message import message_id
from adapters.mail.port import Mail, MailDeliveryError, Mailer
from adapters.mail.smtp import SmtpMailer
from adapters.mail.wiring import open_mailer

__all__ = ["Mail", "MailDeliveryError", "MailDirectory", "Mailer", "SmtpMailer", "message_id", "open_mailer"]
