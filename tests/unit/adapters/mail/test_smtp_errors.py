"""How an SMTP failure in the mail transaction is classed: permanent (5xx, no SMTPUTF8) or retryable."""

from __future__ import annotations

import smtplib

import pytest

from adapters.mail.smtp import transaction_error

SERVER = "SMTP server mx.example:25"


@pytest.mark.parametrize(
    "error, retryable, code",
    [
        (smtplib.SMTPRecipientsRefused({"a@b": (550, b"5.1.1 no such mailbox")}), False, 550),
        (smtplib.SMTPRecipientsRefused({"a@b": (451, b"4.3.0 try later")}), True, 451),
        (smtplib.SMTPDataError(554, b"5.6.0 content rejected"), False, 554),
        (smtplib.SMTPDataError(452, b"4.3.1 insufficient storage"), True, 452),
        (smtplib.SMTPSenderRefused(421, b"4.4.2 closing", "orders@example.com"), True, 421),
        (smtplib.SMTPNotSupportedError("the server does not advertise SMTPUTF8"), False, None),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True, None),
        (ConnectionResetError(104, "Connection reset by peer"), True, None),
        (TimeoutError("timed out"), True, None),
    ],
    ids=lambda v: v if isinstance(v, (bool, int)) or v is None else type(v).__name__,
)
def test_a_failure_in_the_mail_transaction_is_classed_by_its_reply(error, retryable, code):
    classed = transaction_error("k-1", SERVER, error)
    assert (classed.retryable, classed.code) == (retryable, code)


def test_the_error_names_the_key_the_server_and_the_reply():
    error = smtplib.SMTPRecipientsRefused({"sam@example.com": (550, b"5.1.1 no such\r\n mailbox")})
    assert str(transaction_error("k-1", SERVER, error)) == (
        "mail k-1: SMTP server mx.example:25: refused sam@example.com: 550 5.1.1 no such mailbox"
    )
