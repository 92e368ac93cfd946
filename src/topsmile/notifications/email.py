"""Email delivery: a console backend for development and an SMTP backend for real mail."""

from __future__ import annotations

import email.message
import json
import logging
import ssl
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Protocol

import aiosmtplib

from topsmile.config import SEND_TIMEOUT_SECONDS, Settings
from topsmile.core.clock import now
from topsmile.notifications.messages import Attachment, EmailMessage

log = logging.getLogger("topsmile.email")


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Deliver `message` and return the Message-ID it went out with."""
        ...


def mask_address(address: str) -> str:
    """`ana.souza@example.com` → `a***@example.com`: enough to tell mails apart in a log."""
    _, addr = parseaddr(address)
    local, at, domain = (addr or address).rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def _message_id_domain(sender: str) -> str:
    # make_msgid() without a domain asks DNS for this host's FQDN, which can stall for seconds.
    _, addr = parseaddr(sender)
    domain = addr.rpartition("@")[2]
    return domain or "topsmile.local"


def _split_content_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    kind, *raw_params = (part.strip() for part in content_type.split(";"))
    maintype, slash, subtype = kind.partition("/")
    if not slash or not maintype or not subtype:
        raise ValueError(f"not a MIME type: {content_type!r}")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, equals, value = raw.partition("=")
        if equals:
            params[key.strip().lower()] = value.strip().strip('"')
    return maintype.lower(), subtype.lower(), params


def _attach(mime: email.message.EmailMessage, attachment: Attachment) -> None:
    maintype, subtype, params = _split_content_type(attachment.content_type)
    mime.add_attachment(
        attachment.data,
        maintype=maintype,
        subtype=subtype,
        filename=attachment.filename,
        params=params,
    )


def build_mime(message: EmailMessage, *, sender: str) -> email.message.EmailMessage:
    """The MIME message for `message`: text and HTML alternatives, then any attachments."""
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now())
    mime["Message-ID"] = make_msgid(domain=_message_id_domain(sender))
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        _attach(mime, attachment)
    return mime


class ConsoleEmailSender:
    """Logs that a mail would have gone out; never the body or the whole address."""

    def __init__(self, sender: str = "TopSmile <no-reply@topsmile.local>") -> None:
        self._domain = _message_id_domain(sender)

    async def send(self, message: EmailMessage) -> str:
        message_id = make_msgid(domain=self._domain)
        summary = {
            "channel": "email",
            "to": mask_address(message.to),
            "subject": message.subject,
            "messageId": message_id,
            "attachments": [attachment.filename for attachment in message.attachments],
        }
        log.info(json.dumps(summary, ensure_ascii=False))
        return message_id


class SmtpEmailSender:
    """Sends through the SMTP relay in the settings; any SMTP failure raises for a retry."""

    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls_context = tls_context

    async def send(self, message: EmailMessage) -> str:
        settings = self._settings
        mime = build_mime(message, sender=settings.smtp_from)
        login = settings.smtp_username is not None
        refused, _ = await aiosmtplib.send(
            mime,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username if login else None,
            password=settings.smtp_password if login else None,
            start_tls=settings.smtp_starttls,
            tls_context=self._tls_context,
            timeout=SEND_TIMEOUT_SECONDS,
        )
        if refused:
            # Only raised by aiosmtplib when every recipient is refused; one is enough here.
            raise aiosmtplib.SMTPRecipientsRefused(
                [
                    aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
                    for recipient, reply in refused.items()
                ]
            )
        return str(mime["Message-ID"])


def email_sender(settings: Settings) -> EmailSender:
    if settings.email_backend == "smtp":
        return SmtpEmailSender(settings)
    return ConsoleEmailSender(settings.smtp_from)
