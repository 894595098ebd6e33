"""Mail over real SMTP: a local aiosmtpd server (the ``smtp_server`` fixture) records what arrives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.config import Settings
from adapters.mail import Mail, MailDeliveryError, SmtpMailer, message_id, open_mailer
from tests.smtp_server import RecordingSmtpServer

SENDER = "Orderstream <orders@example.com>"
MAIL = Mail(to="sam@example.com", subject="Your order is placed", text="Thank you.\nTotal: 39.80 EUR\n",
            key="notification:0b7c1c52-1f3e-4c55-9a3f-0d2d2c1e9a11:0")
SENT_AT = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


@pytest.fixture
def mailer(smtp_server: RecordingSmtpServer):
    mailer = SmtpMailer(smtp_server.location, SENDER, timeout=5, clock=lambda: SENT_AT)
    yield mailer
    mailer.close()


def test_a_mail_arrives_with_its_headers(mailer, smtp_server):
    mailer.send(MAIL)
    [message] = smtp_server.messages()
    assert {name: str(message[name]) for name in ("From", "To", "Subject", "Message-ID", "Date")} == {
        "From": SENDER,
        "To": "sam@example.com",
        "Subject": "Your order is placed",
        "Message-ID": "<notification=3A0b7c1c52-1f3e-4c55-9a3f-0d2d2c1e9a11=3A0@orderstream>",
        "Date": "Wed, 04 Mar 2026 12:30:00 +0000",
    }


def test_a_mail_arrives_with_its_body(mailer, smtp_server):
    mailer.send(MAIL)
    [message] = smtp_server.messages()
    assert message.get_content().replace("\r\n", "\n") == MAIL.text


def test_the_envelope_names_the_bare_sender_and_the_recipient(mailer, smtp_server):
    mailer.send(MAIL)
    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == ("orders@example.com", ("sam@example.com",))


def test_a_body_and_subject_beyond_ascii_arrive_intact(mailer, smtp_server):
    mailer.send(Mail(to="sam@example.com", subject="Bestellung bestätigt – 3 €", text="Grüße, Zoë\n", key="k-1"))
    [message] = smtp_server.messages()
    assert (str(message["Subject"]), message.get_content().replace("\r\n", "\n")) == (
        "Bestellung bestätigt – 3 €", "Grüße, Zoë\n"
    )


def test_the_same_key_sent_twice_arrives_with_the_same_message_id(mailer, smtp_server):
    mailer.send(MAIL)
    mailer.send(MAIL)
    assert smtp_server.message_ids() == [message_id(MAIL.key)] * 2


def test_different_keys_arrive_with_different_message_ids(mailer, smtp_server):
    mailer.send(MAIL)
    mailer.send(Mail(MAIL.to, MAIL.subject, MAIL.text, key=MAIL.key.replace(":0", ":1")))
    assert len(set(smtp_server.message_ids())) == 2


def test_one_connection_carries_many_mails(mailer, smtp_server):
    for index in range(3):
        mailer.send(Mail(MAIL.to, MAIL.subject, MAIL.text, key=f"k-{index}"))
    assert (len(smtp_server.received), smtp_server.greetings) == (3, 1)


def test_a_server_that_is_down_gives_a_retryable_error(mailer, smtp_server):
    smtp_server.stop()
    with pytest.raises(MailDeliveryError, match="cannot reach SMTP server") as raised:
        mailer.send(MAIL)
    assert (raised.value.retryable, raised.value.key) == (True, MAIL.key)


def test_a_mail_is_delivered_once_the_server_is_back(mailer, smtp_server):
    smtp_server.stop()
    with pytest.raises(MailDeliveryError):
        mailer.send(MAIL)
    smtp_server.start()
    mailer.send(MAIL)
    assert smtp_server.message_ids() == [message_id(MAIL.key)]


def test_a_connection_the_server_closed_is_replaced_within_the_send(mailer, smtp_server):
    mailer.send(MAIL)
    smtp_server.stop()
    smtp_server.start()
    mailer.send(MAIL)
    assert (len(smtp_server.received), smtp_server.greetings) == (2, 2)


def test_a_550_for_the_recipient_gives_a_permanent_error(mailer, smtp_server):
    smtp_server.refuse("sam@example.com", "550 5.1.1 no such mailbox")
    with pytest.raises(MailDeliveryError, match="550 5.1.1 no such mailbox") as raised:
        mailer.send(MAIL)
    assert (raised.value.retryable, raised.value.code) == (False, 550)


def test_a_451_for_the_recipient_gives_a_retryable_error(mailer, smtp_server):
    smtp_server.refuse("sam@example.com", "451 4.3.0 try again later")
    with pytest.raises(MailDeliveryError) as raised:
        mailer.send(MAIL)
    assert (raised.value.retryable, raised.value.code) == (True, 451)


def test_a_554_for_the_content_gives_a_permanent_error(mailer, smtp_server):
    smtp_server.data_reply = "554 5.6.0 content rejected"
    with pytest.raises(MailDeliveryError) as raised:
        mailer.send(MAIL)
    assert (raised.value.retryable, raised.value.code) == (False, 554)


def test_the_mailer_carries_on_after_a_refused_mail(mailer, smtp_server):
    smtp_server.refuse("nobody@example.com")
    with pytest.raises(MailDeliveryError):
        mailer.send(Mail("nobody@example.com", "s", "t", key="k-refused"))
    mailer.send(MAIL)
    assert smtp_server.message_ids() == [message_id(MAIL.key)]


def test_a_recipient_that_is_not_an_address_is_refused_without_connecting(mailer, smtp_server):
    with pytest.raises(MailDeliveryError, match="not a mail address") as raised:
        mailer.send(Mail("sam at example.com", "s", "t", key="k-1"))
    assert (raised.value.retryable, smtp_server.greetings) == (False, 0)


def test_the_settings_smtp_url_gives_a_mailer_that_sends_there(smtp_server):
    mailer = open_mailer(Settings(smtp_url=smtp_server.url))
    try:
        mailer.send(MAIL)
    finally:
        mailer.close()
    assert [str(m["From"]) for m in smtp_server.messages()] == ["orders@orderstream.invalid"]

