"""A mail as a message: headers, body, and the Message-ID made from the effect key."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from adapters.mail import Mail, MailDeliveryError, message_id
from adapters.mail.message import build_message, header_safe

AT = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
MAIL = Mail(to="sam@example.com", subject="Shipped", text="On its way.\n", key="notification:e-1:0")


def test_the_message_id_is_the_key_made_header_safe():
    assert message_id("notification:0b7c1c52-1f3e:0") == "<notification=3A0b7c1c52-1f3e=3A0@orderstream>"


def test_the_same_key_always_gives_the_same_message_id():
    assert message_id("notification:e-1:0") == message_id("notification:e-1:0")


@pytest.mark.parametrize("a, b", [("a:b", "a=3Ab"), ("a.b", "a=2Eb"), ("é", "=C3=A9"), ("a b", "a_b")])
def test_keys_that_differ_give_message_ids_that_differ(a, b):
    assert message_id(a) != message_id(b)


@pytest.mark.parametrize("key", ["a:b", "ü/..\\<>@\"x\" y", "\r\nBcc: x@y"])
def test_the_safe_form_of_a_key_uses_only_letters_digits_and_three_marks(key):
    assert set(header_safe(key)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=")


def test_a_long_key_gives_a_bounded_message_id_that_still_tells_keys_apart():
    long_a, long_b = "x" * 500 + "a", "x" * 500 + "b"
    assert len(header_safe(long_a)) <= 200 and header_safe(long_a) != header_safe(long_b)


def test_a_message_has_the_headers_of_its_mail():
    message = build_message(MAIL, "Orders <orders@example.com>", AT)
    assert [(name, str(value)) for name, value in message.items() if name != "Content-Type"][:6] == [
        ("From", "Orders <orders@example.com>"),
        ("To", "sam@example.com"),
        ("Subject", "Shipped"),
        ("Date", "Wed, 04 Mar 2026 12:30:00 +0000"),
        ("Message-ID", "<notification=3Ae-1=3A0@orderstream>"),
        ("Auto-Submitted", "auto-generated"),
    ]


def test_a_long_message_id_stays_on_its_header_line():
    mail = Mail(MAIL.to, MAIL.subject, MAIL.text, key="notification:" + "0b7c1c52-1f3e-4c55-9a3f-0d2d2c1e9a11" * 3)
    raw = build_message(mail, "orders@example.com", AT).as_bytes()
    assert f"\nMessage-ID: {message_id(mail.key)}\n".encode() in raw


def test_a_body_beyond_ascii_is_sent_quoted_printable_and_reads_back_the_same():
    mail = Mail(MAIL.to, "Grüße", "Grüße, Zoë – 3 €\n", MAIL.key)
    raw = build_message(mail, "orders@example.com", AT).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert (raw.isascii(), parsed["Content-Transfer-Encoding"], parsed.get_content()) == (
        True, "quoted-printable", "Grüße, Zoë – 3 €\n"
    )


@pytest.mark.parametrize(
    "mail, problem",
    [
        (Mail("sam at example.com", "s", "t", "k"), "not a mail address"),
        (Mail("a@b, c@d", "s", "t", "k"), "not a mail address"),
        (Mail("sam@example.com", "s\r\nBcc: eve@example.com", "t", "k"), "subject has a line break"),
        (Mail("sam@example.com", "s", "t", ""), "no effect key"),
    ],
)
def test_a_mail_no_transport_could_send_is_a_permanent_error(mail, problem):
    with pytest.raises(MailDeliveryError, match=problem) as raised:
        build_message(mail, "orders@example.com", AT)
    assert raised.value.retryable is False
