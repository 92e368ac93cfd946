"""The SMTP sender against a real SMTP server on 127.0.0.1, and the console sender."""

from __future__ import annotations

import json
import logging
import socket
import ssl

import aiosmtplib
import pytest

from tests.support.smtp import Certificate, LocalSmtp, self_signed_certificate
from topsmile.config import Settings
from topsmile.notifications.email import (
    ConsoleEmailSender,
    SmtpEmailSender,
    build_mime,
    email_sender,
    mask_address,
)
from topsmile.notifications.messages import Attachment, EmailMessage

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    b"UID:42@topsmile\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


def smtp_settings(smtp: LocalSmtp, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "email_backend": "smtp",
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_from": "Clínica Sorriso <no-reply@sorriso.example>",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def message(**overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "to": "Ana Souza <ana.souza@example.com>",
        "subject": "Appointment confirmed: Cleaning on Tue 24 Nov 2026, 14:30",
        "text": "Hi Ana,\n\nYour appointment is confirmed.\n",
        "html": "<p>Hi Ana,</p><p>Your appointment is <b>confirmed</b>.</p>",
        "headers": {"X-Request-ID": "req-123", "X-Event-ID": "evt-456"},
    }
    values.update(overrides)
    return EmailMessage(**values)  # type: ignore[arg-type]


async def test_plain_smtp_delivers_text_and_html_alternatives() -> None:
    async with LocalSmtp() as smtp:
        message_id = await SmtpEmailSender(smtp_settings(smtp)).send(message())

    [mail] = smtp.received
    assert mail.mail_from == "no-reply@sorriso.example"
    assert mail.recipients == ["ana.souza@example.com"]
    assert not mail.over_tls
    received = mail.message
    assert received["Message-ID"] == message_id
    assert message_id.endswith("@sorriso.example>")
    assert received["From"] == "Clínica Sorriso <no-reply@sorriso.example>"
    assert received["To"] == "Ana Souza <ana.souza@example.com>"
    assert received["Subject"] == "Appointment confirmed: Cleaning on Tue 24 Nov 2026, 14:30"
    assert received["Date"] is not None
    assert received["X-Request-ID"] == "req-123"
    assert received["X-Event-ID"] == "evt-456"
    assert received.get_content_type() == "multipart/alternative"
    plain, html = received.get_body(("plain",)), received.get_body(("html",))
    assert plain is not None
    assert html is not None
    # SMTP carries CRLF line ends; the content is the same text.
    assert (
        plain.get_content().replace("\r\n", "\n") == "Hi Ana,\n\nYour appointment is confirmed.\n"
    )
    assert "<b>confirmed</b>" in html.get_content()


async def test_starttls_and_auth(certificate: Certificate) -> None:
    async with LocalSmtp(certificate=certificate, username="mailer", password="s3cret") as smtp:
        settings = smtp_settings(
            smtp, smtp_starttls=True, smtp_username="mailer", smtp_password="s3cret"
        )
        sender = SmtpEmailSender(settings, tls_context=certificate.client_context())
        await sender.send(message())

    [mail] = smtp.received
    assert mail.over_tls
    assert mail.authenticated_as == "mailer"


async def test_wrong_password_is_refused(certificate: Certificate) -> None:
    async with LocalSmtp(certificate=certificate, username="mailer", password="s3cret") as smtp:
        settings = smtp_settings(
            smtp, smtp_starttls=True, smtp_username="mailer", smtp_password="wrong"
        )
        sender = SmtpEmailSender(settings, tls_context=certificate.client_context())
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await sender.send(message())
    assert smtp.received == []


async def test_untrusted_certificate_is_refused(certificate: Certificate) -> None:
    async with LocalSmtp(certificate=certificate) as smtp:
        sender = SmtpEmailSender(smtp_settings(smtp, smtp_starttls=True))
        with pytest.raises(ssl.SSLCertVerificationError):
            await sender.send(message())
    assert smtp.received == []


async def test_server_requiring_starttls_refuses_a_plain_sender(certificate: Certificate) -> None:
    async with LocalSmtp(certificate=certificate) as smtp:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
            await SmtpEmailSender(smtp_settings(smtp, smtp_starttls=False)).send(message())
    assert caught.value.code == 530
    assert smtp.received == []


async def test_ics_attachment_travels_as_text_calendar() -> None:
    invite = Attachment("appointment.ics", "text/calendar; method=REQUEST", ICS)
    async with LocalSmtp() as smtp:
        await SmtpEmailSender(smtp_settings(smtp)).send(message(attachments=[invite]))

    received = smtp.received[0].message
    assert received.get_content_type() == "multipart/mixed"
    alternative = next(received.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    [attachment] = list(received.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_filename() == "appointment.ics"
    assert attachment.get_payload(decode=True) == ICS
    assert received["X-Request-ID"] == "req-123"


@pytest.mark.parametrize("code", [451, 550])
async def test_refused_delivery_raises_and_a_retry_gets_through(code: int) -> None:
    async with LocalSmtp() as smtp:
        sender = SmtpEmailSender(smtp_settings(smtp))
        smtp.fail_next(1, code=code)
        with pytest.raises(aiosmtplib.SMTPDataError) as caught:
            await sender.send(message())
        assert caught.value.code == code
        assert smtp.received == []
        await sender.send(message())
    assert len(smtp.received) == 1


async def test_unreachable_server_raises() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=port)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await SmtpEmailSender(settings).send(message())


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match=r"linefeed|carriage"):
        build_mime(message(headers={"X-Request-ID": "a\r\nBcc: x@example.com"}), sender="a@b.c")


def test_extra_headers_cannot_replace_the_recipient() -> None:
    with pytest.raises(ValueError, match="To"):
        build_mime(message(headers={"To": "other@example.com"}), sender="a@b.c")


def test_backend_is_chosen_by_settings() -> None:
    assert isinstance(email_sender(Settings(email_backend="smtp")), SmtpEmailSender)
    assert isinstance(email_sender(Settings(email_backend="console")), ConsoleEmailSender)


async def test_console_sender_logs_a_summary_without_body_or_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="topsmile.email")
    invite = Attachment("appointment.ics", "text/calendar; method=REQUEST", ICS)
    message_id = await ConsoleEmailSender().send(message(attachments=[invite]))

    [record] = [r for r in caplog.records if r.name == "topsmile.email"]
    summary = json.loads(record.getMessage())
    assert summary["to"] == "a***@example.com"
    assert summary["subject"].startswith("Appointment confirmed")
    assert summary["messageId"] == message_id
    assert summary["attachments"] == ["appointment.ics"]
    assert "ana.souza" not in caplog.text
    assert "Your appointment is" not in caplog.text


def test_mask_address() -> None:
    assert mask_address("ana.souza@example.com") == "a***@example.com"
    assert mask_address("Ana <ana@example.com>") == "a***@example.com"
    assert mask_address("not-an-address") == "***"
