"""What the email and SMS senders deliver: rendered, addressed, ready to go."""

from __future__ import annotations

import msgspec


class Attachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str  # may carry parameters, e.g. "text/calendar; method=REQUEST"
    data: bytes


class EmailMessage(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = {}
    attachments: list[Attachment] = []


class SmsMessage(msgspec.Struct, frozen=True):
    to: str  # E.164
    body: str
