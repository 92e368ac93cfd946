"""Helpers for event tests: a private bus, a relay with quick retries, sample events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.smtp import LocalSmtp
from tests.support.twilio import LocalTwilio
from topsmile.core import clock
from topsmile.core.actor import Actor
from topsmile.events import bus
from topsmile.events.bus import Bus
from topsmile.events.relay import RelayConfig
from topsmile.events.types import AppointmentNotice, Event, Recipient, new_event
from topsmile.scheduling.events import APPOINTMENT_REMINDER_DUE

# The Twilio account the local Twilio server (tests/support/twilio.py) accepts.
SID, TOKEN = "AC" + "1" * 32, "twilio-test-token"

FAST = RelayConfig(
    concurrency=4,
    max_attempts=4,
    base_delay_seconds=0.0,
    max_delay_seconds=0.0,
    handler_timeout_seconds=20,
    lease_seconds=40,  # > 20 + the transports' 15 s (config.py `lease_outlives_handler`)
    sweep_seconds=0.05,
)


@pytest.fixture
def private_bus() -> Iterator[Bus]:
    """Install a fresh bus for one test, then put the app's back."""
    previous = bus._installed
    fresh = Bus()
    bus.install(fresh)
    yield fresh
    if previous is not None:
        bus.install(previous)


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    yield
    clock.reset()


def reminder(
    clinic_id: uuid.UUID, *, due_at: datetime | None = None, phone: str | None = "+5511987654321"
) -> Event:
    start = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    notice = AppointmentNotice(
        appointment_id=uuid.uuid4(),
        recipient=Recipient(
            first_name="Ana",
            last_name="Souza",
            email="ana@example.com",
            phone=phone,
            email_opt_in=True,
            sms_opt_in=True,
            patient_id=uuid.uuid4(),
        ),
        clinic_name="Sorriso Centro",
        timezone="America/Sao_Paulo",
        service_name="Cleaning",
        provider_name="Dr. Lima",
        start=start,
        end=start + timedelta(minutes=45),
    )
    return new_event(
        APPOINTMENT_REMINDER_DUE,
        notice,
        actor=Actor.system(clinic_id),
        entity_id=notice.appointment_id,
        due_at=due_at,
    )


@pytest.fixture
async def smtp() -> AsyncIterator[LocalSmtp]:
    async with LocalSmtp() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[LocalTwilio]:
    with LocalTwilio(SID, TOKEN) as server:
        yield server
