"""Mail over SMTP with TLS (STARTTLS or implicit) and a login, against the test-only certificate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.config import Settings
from adapters.mail import Mail, MailDeliveryError, SmtpMailer, message_id

MAIL = Mail(to="sam@example.com", subject="Shipped", text="On its way.\n", key="notification:e-1:0")


def send(mailer: SmtpMailer) -> None:
    try:
        mailer.send(MAIL)
    finally:
        mailer.close()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_mail_arrives_over_tls_after_a_login(make_smtp_server, security):
    server = make_smtp_server(security, user="orders", password="s3cret:@/")
    send(SmtpMailer(server.location, "orders@example.com", ssl_context=server.client_ssl_context()))
    assert server.message_ids() == [message_id(MAIL.key)]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_server_certificate_nobody_trusts_is_a_retryable_error(make_smtp_server, security):
    server = make_smtp_server(security)
    with pytest.raises(MailDeliveryError, match="cannot reach .*CERTIFICATE_VERIFY_FAILED") as raised:
        send(SmtpMailer(server.location, "orders@example.com"))
    assert (raised.value.retryable, server.received) == (True, [])


def test_a_refused_login_is_a_retryable_error_with_its_code(make_smtp_server):
    server = make_smtp_server("starttls", user="orders", password="s3cret")
    location = replace(server.location, password="wrong")
    with pytest.raises(MailDeliveryError, match="cannot reach .*535") as raised:
        send(SmtpMailer(location, "orders@example.com", ssl_context=server.client_ssl_context()))
    assert (raised.value.retryable, raised.value.code, server.received) == (True, 535, [])


def test_the_url_of_a_server_with_a_login_gives_its_location(make_smtp_server):
    server = make_smtp_server("starttls", user="orders", password="s3cret:@/")
    assert Settings(smtp_url=server.url).smtp == server.location
