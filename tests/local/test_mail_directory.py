"""Mail without an SMTP server: one .eml file per effect key, written whole, never twice."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from adapters.mail import Mail, MailDeliveryError, MailDirectory, message_id

MAIL = Mail(to="sam@example.com", subject="Your order is placed", text="Thank you.\nTotal: 39.80 EUR\n",
            key="notification:0b7c1c52-1f3e-4c55-9a3f-0d2d2c1e9a11:0")
SENDER = "Orderstream <orders@example.com>"
AT = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def mailer(mail_dir: Path) -> MailDirectory:
    return MailDirectory(mail_dir, SENDER, clock=lambda: AT)


def test_a_mail_is_written_as_a_file_named_after_its_message_id(mailer, mail_dir):
    mailer.send(MAIL)
    assert [p.name for p in mail_dir.iterdir()] == [message_id(MAIL.key).strip("<>") + ".eml"]


def test_the_file_parses_as_an_email_with_the_headers(mailer):
    mailer.send(MAIL)
    message = message_from_bytes(mailer.path_for(MAIL.key).read_bytes(), policy=policy.default)
    assert {name: str(message[name]) for name in ("From", "To", "Subject", "Message-ID", "Date")} == {
        "From": SENDER,
        "To": "sam@example.com",
        "Subject": "Your order is placed",
        "Message-ID": "<notification=3A0b7c1c52-1f3e-4c55-9a3f-0d2d2c1e9a11=3A0@orderstream>",
        "Date": "Wed, 04 Mar 2026 12:30:00 +0000",
    }


def test_the_file_holds_the_body(mailer):
    mailer.send(MAIL)
    message = message_from_bytes(mailer.path_for(MAIL.key).read_bytes(), policy=policy.default)
    assert message.get_content() == MAIL.text


def test_writing_one_mail_twice_leaves_one_file(mailer, mail_dir):
    mailer.send(MAIL)
    mailer.send(MAIL)
    assert len(list(mail_dir.iterdir())) == 1


def test_the_first_copy_of_a_key_stays(mail_dir):
    MailDirectory(mail_dir, SENDER, clock=lambda: AT).send(MAIL)
    later = MailDirectory(mail_dir, SENDER, clock=lambda: datetime(2026, 3, 5, tzinfo=UTC))
    later.send(MAIL)
    message = message_from_bytes(later.path_for(MAIL.key).read_bytes(), policy=policy.default)
    assert str(message["Date"]) == "Wed, 04 Mar 2026 12:30:00 +0000"


def test_mails_with_different_keys_are_different_files(mailer, mail_dir):
    mailer.send(MAIL)
    mailer.send(Mail(MAIL.to, MAIL.subject, MAIL.text, key=MAIL.key.replace(":0", ":1")))
    assert len(list(mail_dir.iterdir())) == 2


def test_no_temporary_file_is_left_behind(mailer, mail_dir):
    mailer.send(MAIL)
    mailer.send(MAIL)
    assert [p.name for p in mail_dir.iterdir() if p.name.startswith(".")] == []


def test_a_directory_that_cannot_be_made_gives_a_retryable_error(tmp_path):
    (tmp_path / "taken").write_text("a file, not a directory")
    with pytest.raises(MailDeliveryError, match="cannot write") as raised:
        MailDirectory(tmp_path / "taken" / "mail", SENDER).send(MAIL)
    assert raised.value.retryable is True


def test_a_recipient_that_is_not_an_address_gives_a_permanent_error_and_no_file(mailer, mail_dir):
    with pytest.raises(MailDeliveryError) as raised:
        mailer.send(Mail("sam", MAIL.subject, MAIL.text, MAIL.key))
    assert (raised.value.retryable, mail_dir.exists()) == (False, False)


def test_an_address_beyond_ascii_is_written_as_utf8(mailer):
    mailer.send(Mail("zoë@exämple.de", MAIL.subject, MAIL.text, MAIL.key))
    message = message_from_bytes(mailer.path_for(MAIL.key).read_bytes(), policy=policy.default)
    assert str(message["To"]) == "zoë@exämple.de"

