"""The mailer the settings ask for: SMTP with ``ORDERS_SMTP_URL``, else ``.eml`` files under ``ORDERS_MAIL_DIR``."""

from __future__ import annotations

from pathlib import Path

from adapters.config import Settings
from adapters.mail.directory import MailDirectory
from adapters.mail.port import Mailer
from adapters.mail.smtp import SmtpMailer


def open_mailer(settings: Settings) -> Mailer:
    """A :class:`Mailer` for ``settings``; connects on its first send, not here (its caller closes it)."""
    location = settings.smtp
    if location is None:
        return MailDirectory(Path(settings.mail_dir), settings.mail_from)
    return SmtpMailer(location, settings.mail_from)
