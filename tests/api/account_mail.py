"""The account emails as a person receives them: the real email handler, a real SMTP server.

Token links are never stored (SPEC §3), so a test that needs one has the handler send the
clinic's latest account email and reads the link out of the message that arrived.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import msgspec

from tests.support.smtp import LocalSmtp
from topsmile.config import Settings
from topsmile.core import db, rows
from topsmile.events.relay import _event_from_row
from topsmile.events.tables import OutboxRow
from topsmile.notifications.email import SmtpEmailSender
from topsmile.notifications.handlers import Notifier
from topsmile.notifications.sms import sms_sender

_LINK = re.compile(r"https?://\S+?\?token=[A-Za-z0-9._~-]+")


async def emailed_link(settings: Settings, clinic_id: uuid.UUID, event: str) -> str:
    """Email the clinic's latest `event` (`user.registered` or
    `user.password_reset_requested`) and return the link in the plain-text part."""
    async with db.tenant_transaction(clinic_id):
        row = await rows.fetch_only(
            OutboxRow,
            "SELECT * FROM event_outbox WHERE name = {} ORDER BY occurred_at DESC LIMIT 1",
            event,
        )
    async with LocalSmtp() as smtp:
        mail_settings = msgspec.structs.replace(
            settings,
            email_backend="smtp",
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=False,
        )
        notifier = Notifier(SmtpEmailSender(mail_settings), sms_sender(settings), settings)
        async with db.tenant_transaction(clinic_id):
            await notifier.email(_event_from_row(row), 1)
    [mail] = smtp.received
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    match = _LINK.search(body.get_content())
    assert match is not None, body.get_content()
    return match.group()


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]
