"""The email and SMS handlers: render an event's payload, send it, log the outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

from topsmile.auth.tokens import email_link
from topsmile.config import Settings
from topsmile.core.logging import redact_text
from topsmile.events import catalogue
from topsmile.events.types import (
    AccountLink,
    AccountToken,
    AppointmentNotice,
    Event,
    PaymentNotice,
)
from topsmile.notifications import log
from topsmile.notifications.email import EmailSender
from topsmile.notifications.messages import Attachment, EmailMessage, SmsMessage
from topsmile.notifications.sms import SmsSender
from topsmile.notifications.templates import appointment_ics, render_email, render_sms
from topsmile.payments import events as payment_events
from topsmile.scheduling import events as scheduling_events
from topsmile.users import events as user_events

# Event names (from the owning domains' catalogues) → the template each channel renders.
EMAIL_TEMPLATES = {
    kind.name: template
    for kind, template in (
        (user_events.USER_REGISTERED, "verify_email"),
        (user_events.USER_PASSWORD_RESET_REQUESTED, "password_reset"),
        (scheduling_events.APPOINTMENT_CREATED, "appointment_confirmation"),
        (scheduling_events.APPOINTMENT_RESCHEDULED, "appointment_rescheduled"),
        (scheduling_events.APPOINTMENT_CANCELLED, "appointment_cancelled"),
        (scheduling_events.APPOINTMENT_REMINDER_DUE, "appointment_reminder"),
        (payment_events.PAYMENT_SUCCEEDED, "payment_receipt"),
    )
}
SMS_TEMPLATES = {
    kind.name: template
    for kind, template in (
        (scheduling_events.APPOINTMENT_CREATED, "appointment_confirmation"),
        (scheduling_events.APPOINTMENT_REMINDER_DUE, "appointment_reminder"),
    )
}
# Account emails are needed to use the service at all; the others honour `emailOptIn`.
_ACCOUNT_TEMPLATES = frozenset({"verify_email", "password_reset"})
# Templates that carry a calendar entry for the (new) time.
_WITH_ICS = frozenset({"appointment_confirmation", "appointment_rescheduled"})

Payload = AccountToken | AppointmentNotice | PaymentNotice


def parse_payload(event: Event) -> Payload:
    """The payload as the type its event declares (InvalidEvent if it is not one)."""
    payload = catalogue.lookup(event.name).check(event.payload)
    if not isinstance(payload, AccountToken | AppointmentNotice | PaymentNotice):
        raise catalogue.InvalidEvent(f"{event.name} is not an event notifications render")
    return payload


async def _log(
    event: Event,
    payload: Payload | None,
    *,
    channel: log.Channel,
    template: str,
    recipient: str,
    status: log.Status,
    attempts: int,
    error: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    appointment_id: uuid.UUID | None = getattr(payload, "appointment_id", None)
    await log.write(
        event,
        channel=channel,
        template=template,
        recipient=recipient,
        status=status,
        attempts=attempts,
        appointment_id=appointment_id,
        patient_id=payload.recipient.patient_id if payload else None,
        error=error,
        provider_message_id=provider_message_id,
    )


def _error_text(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")[:500]


def account_link(settings: Settings, event: Event, payload: AccountToken) -> AccountLink:
    """The email's link, derived again from the server secret: the outbox never holds it."""
    assert event.clinic_id is not None  # account events always belong to a clinic
    link = email_link(
        settings.app_url, settings.secret_key, event.clinic_id, payload.token_id, payload.purpose
    )
    return AccountLink(recipient=payload.recipient, clinic_name=payload.clinic_name, link=link)


async def _send_to_the_end(
    event: Event,
    payload: Payload,
    *,
    channel: log.Channel,
    template: str,
    recipient: str,
    attempts: int,
    send: Coroutine[Any, Any, str],
) -> None:
    """Send and record "sent", even when the relay's handler timeout cancels the handler
    meanwhile. A send cannot be taken back once the provider may have it (Twilio's client runs
    in a thread no cancellation stops), and a delivery let go without its `sent` row would be
    sent again by the retry. So a cancelled handler waits for the send and its record (bounded
    by the transports' `SEND_TIMEOUT_SECONDS`, which the relay's lease covers) and only then lets
    the cancellation through; the retry then finds the row and only marks the delivery done."""

    async def send_and_record() -> None:
        provider_id = await send
        await _log(
            event,
            payload,
            channel=channel,
            template=template,
            recipient=recipient,
            status="sent",
            attempts=attempts,
            provider_message_id=provider_id,
        )

    task = asyncio.ensure_future(send_and_record())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the retry decides what a failure means
        raise


class Notifier:
    def __init__(self, email: EmailSender, sms: SmsSender, settings: Settings) -> None:
        self._email = email
        self._sms = sms
        self._settings = settings

    async def email(self, event: Event, attempt: int) -> None:
        template = EMAIL_TEMPLATES[event.name]
        if await log.already_sent(event, "email"):
            return  # sent by a relay that then lost its lease: only mark it delivered
        payload = parse_payload(event)
        to = payload.recipient.email
        opted_out = template not in _ACCOUNT_TEMPLATES and not payload.recipient.email_opt_in
        if not to or opted_out:
            reason = "patient opted out of email" if to else "no email address"
            await _log(
                event,
                payload,
                channel="email",
                template=template,
                recipient=to or "",
                status="skipped",
                attempts=attempt,
                error=reason,
            )
            return
        renderable = (
            account_link(self._settings, event, payload)
            if isinstance(payload, AccountToken)
            else payload
        )
        subject, text, html = render_email(template, renderable)
        attachments = []
        if template in _WITH_ICS and isinstance(payload, AppointmentNotice):
            # Calendars replace an entry they hold only when SEQUENCE grows.
            ics = appointment_ics(payload, sequence=payload.sequence)
            attachments.append(Attachment("appointment.ics", "text/calendar; method=REQUEST", ics))
        headers = {"X-Event-ID": str(event.id)}
        if event.request_id:
            headers["X-Request-ID"] = event.request_id
        message = EmailMessage(
            to=to, subject=subject, text=text, html=html, headers=headers, attachments=attachments
        )
        await _send_to_the_end(
            event,
            payload,
            channel="email",
            template=template,
            recipient=to,
            attempts=attempt,
            send=self._email.send(message),
        )

    async def email_failed(
        self, event: Event, exc: BaseException, attempt: int, dead: bool
    ) -> None:
        await self._failed(event, "email", EMAIL_TEMPLATES[event.name], exc, attempt, dead)

    async def sms(self, event: Event, attempt: int) -> None:
        template = SMS_TEMPLATES[event.name]
        if await log.already_sent(event, "sms"):
            return  # sent by a relay that then lost its lease: only mark it delivered
        payload = parse_payload(event)
        to = payload.recipient.phone
        if not to or not payload.recipient.sms_opt_in or not isinstance(payload, AppointmentNotice):
            reason = "patient has not opted in to SMS" if to else "no phone number"
            await _log(
                event,
                payload,
                channel="sms",
                template=template,
                recipient=to or "",
                status="skipped",
                attempts=attempt,
                error=reason,
            )
            return
        await _send_to_the_end(
            event,
            payload,
            channel="sms",
            template=template,
            recipient=to,
            attempts=attempt,
            send=self._sms.send(SmsMessage(to=to, body=render_sms(template, payload))),
        )

    async def sms_failed(self, event: Event, exc: BaseException, attempt: int, dead: bool) -> None:
        await self._failed(event, "sms", SMS_TEMPLATES[event.name], exc, attempt, dead)

    async def _failed(
        self,
        event: Event,
        channel: log.Channel,
        template: str,
        exc: BaseException,
        attempt: int,
        dead: bool,
    ) -> None:
        payload: Payload | None
        try:
            payload = parse_payload(event)
        except catalogue.InvalidEvent:  # a malformed payload is itself the failure recorded
            payload = None
        recipient = ""
        if payload is not None:
            contact = payload.recipient.email if channel == "email" else payload.recipient.phone
            recipient = contact or ""
        await _log(
            event,
            payload,
            channel=channel,
            template=template,
            recipient=recipient,
            status="dead" if dead else "failed",
            attempts=attempt,
            error=_error_text(exc),
        )
