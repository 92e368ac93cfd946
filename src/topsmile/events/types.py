"""Typed events and the payloads that notification handlers render.

An event is a fact about one clinic. Its payload carries a snapshot of what handlers need
(names, contact details, local time zone) so that handlers never read other domains' tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from topsmile.core.actor import Actor
from topsmile.core.clock import now
from topsmile.core.context import current_request_id
from topsmile.events.catalogue import EventType, P


class Event(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    clinic_id: uuid.UUID | None
    occurred_at: datetime
    due_at: datetime
    request_id: str
    entity_type: str
    entity_id: str | None = None
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None
    ip: str | None = None
    payload: dict[str, Any] = {}

    def payload_as(self, kind: type[msgspec.Struct]) -> Any:
        return msgspec.convert(self.payload, kind)


def new_event(
    kind: EventType[P],
    payload: P,
    *,
    actor: Actor,
    entity_id: str | uuid.UUID | None = None,
    due_at: datetime | None = None,
) -> Event:
    """An event of `actor`'s clinic, typed by its declared kind (publish it in a transaction)."""
    occurred = now()
    return Event(
        id=uuid.uuid4(),
        name=kind.name,
        clinic_id=actor.clinic_id,
        occurred_at=occurred,
        due_at=due_at or occurred,
        request_id=current_request_id(),
        entity_type=kind.entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        actor_id=actor.user_id,
        actor_role=actor.role,
        ip=actor.ip,
        payload=msgspec.to_builtins(payload),
    )


# --- Payloads rendered by the email and SMS handlers --------------------------------------


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """Who a notification goes to, with their consent flags."""

    first_name: str
    last_name: str = ""
    email: str | None = None
    phone: str | None = None  # E.164
    email_opt_in: bool = True
    sms_opt_in: bool = False
    patient_id: uuid.UUID | None = None


class AccountToken(msgspec.Struct, frozen=True, kw_only=True):
    """`user.registered` and `user.password_reset_requested`: which `email_token` row to
    email a link for. Never the token or the link: the email handler derives them
    (`auth.tokens.email_link`) with the server secret, so the outbox holds nothing usable."""

    recipient: Recipient
    clinic_name: str
    token_id: uuid.UUID
    purpose: Literal["verify_email", "password_reset"]


class AccountLink(msgspec.Struct, frozen=True, kw_only=True):
    """What the account emails render: built in memory by the email handler, never stored."""

    recipient: Recipient
    clinic_name: str
    link: str  # <TOPSMILE_APP_URL>/verify-email?token=... or /reset-password?token=...


class AppointmentNotice(msgspec.Struct, frozen=True, kw_only=True):
    """`appointment.*` events: what the patient needs to know about one appointment."""

    appointment_id: uuid.UUID
    recipient: Recipient
    clinic_name: str
    timezone: str  # IANA zone of the clinic; times are shown in it
    service_name: str
    provider_name: str
    start: datetime  # UTC
    end: datetime  # UTC
    previous_start: datetime | None = None  # rescheduled: the old start
    reason: str | None = None  # cancelled: why
    status: str | None = None  # status_changed: the new status
    # The invitation's SEQUENCE (RFC 5545): 0 when booked, then the number of reschedules, so
    # every move of one appointment carries a larger number, however close together they are.
    sequence: int = 0


class PaymentNotice(msgspec.Struct, frozen=True, kw_only=True):
    """`payment.*` events."""

    payment_id: uuid.UUID
    appointment_id: uuid.UUID
    recipient: Recipient
    clinic_name: str
    timezone: str
    service_name: str
    start: datetime
    amount: int  # minor units
    currency: str  # lower-case ISO 4217
