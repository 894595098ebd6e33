"""Mail written as ``.eml`` files, one per effect key: the transport when no SMTP server is configured.

``make run`` and the demo need no mail server: each mail becomes
``<DIR>/<safe key>@orderstream.eml`` (the ``Message-ID`` without its angle
brackets), readable by any mail client. The file appears whole or not at
all: it is written to a temporary file beside it, synced, then linked into
place, and the link fails if the name is taken, so the first copy of a key
stays and a redelivery is dropped, as a receiver drops a duplicate
``Message-ID``. The directory is synced after the link: a mail reported
sent survives a crash of the machine, not only of the process.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from adapters.mail.message import DOMAIN, POLICY, build_message, header_safe, needs_utf8, utc_now
from adapters.mail.port import Mail, MailDeliveryError, Mailer


class MailDirectory(Mailer):
    """Writes each mail to ``directory`` (created on first send) as an ``.eml`` file named by its key.

    A mail whose file exists is not written again (the first copy wins). A
    failure to write (disk full, no permission) is a retryable
    :class:`MailDeliveryError`; a mail with an invalid address or subject a
    permanent one, as over SMTP.
    """

    def __init__(self, directory: Path, mail_from: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.directory = directory
        self.mail_from = mail_from
        self._clock = clock

    def path_for(self, key: str) -> Path:
        """The file a mail with ``key`` is written to."""
        return self.directory / f"{header_safe(key)}@{DOMAIN}.eml"

    def send(self, mail: Mail) -> None:
        message = build_message(mail, self.mail_from, self._clock())
        path = self.path_for(mail.key)
        if path.exists():
            return
        # LF line ends, as maildir keeps them; raw UTF-8 headers only for an address that needs them.
        generating = POLICY.clone(utf8=needs_utf8(mail, self.mail_from))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_once(path, message.as_bytes(policy=generating))
        except OSError as error:
            raise MailDeliveryError(
                mail.key, f"cannot write {path}: {type(error).__name__}: {error}", retryable=True
            ) from error


def write_once(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data``, atomically and durably; leave an existing ``path`` as it is."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # written meanwhile by another sender of the same key: the first copy wins
    finally:
        temporary.unlink(missing_ok=True)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
