"""Booking to inbox, end to end (SPEC §6-§7): a real `topsmile serve` process, whose own relay
sends over a real SMTP server (aiosmtpd) and a Twilio-compatible HTTP server, driven only over
HTTP. A patient's booking brings a confirmation email with an `.ics` invitation and a text;
a cancelled appointment's reminder never goes out; a live one's goes out exactly once."""

from __future__ import annotations

import asyncio
import email.message
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from tests.api.appointment_fixtures import act, book, local_start, open_all_day, soon
from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.support.serve import serve_env, serving
from tests.support.smtp import LocalSmtp, ReceivedMail
from tests.support.twilio import LocalTwilio, ReceivedSms
from topsmile.config import Settings
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")

SID, TOKEN = "AC" + "2" * 32, "twilio-e2e-token"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
# The server's relay also delivers, oldest first, what earlier tests left pending in the
# shared database: the first message of a test may wait behind them (polled; rarely needed).
BACKLOG = 120
T = TypeVar("T")


@pytest.fixture
async def smtp() -> AsyncIterator[LocalSmtp]:
    async with LocalSmtp() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[LocalTwilio]:
    with LocalTwilio(SID, TOKEN) as server:
        yield server


@pytest.fixture
async def clinic() -> SeededClinic:
    """Seeded before the server starts: `serve` on a database with no clinic seeds the demo."""
    return await seed_clinic(("admin", "receptionist", "patient"))


@pytest.fixture
async def server(
    settings: Settings, smtp: LocalSmtp, twilio: LocalTwilio, tmp_path: Path, clinic: SeededClinic
) -> AsyncIterator[str]:
    env = serve_env(
        settings,
        **smtp.env(),
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM_NUMBER="+15005550006",
        TWILIO_API_BASE=twilio.base_url,
    )
    async with serving(env, tmp_path / "serve.log") as base_url:
        yield base_url


async def _wait_for(what: str, probe: Callable[[], T | None], seconds: float) -> T:
    """Poll `probe` until it gives something, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s"
        await asyncio.sleep(0.2)
    return found


def _mails(smtp: LocalSmtp, to: str, subject_prefix: str) -> list[ReceivedMail]:
    return [
        m
        for m in smtp.received
        if m.recipients == [to] and str(m.message["Subject"]).startswith(subject_prefix)
    ]


def _texts(twilio: LocalTwilio, to: str, body_prefix: str) -> list[ReceivedSms]:
    return [s for s in twilio.received if s.to == to and s.body.startswith(body_prefix)]


def _one(items: list[T]) -> T | None:
    return items[0] if items else None


def _invitation(mail: ReceivedMail) -> Any:
    """The VEVENT of the message's `.ics` attachment, parsed by `icalendar`."""
    [part] = [p for p in mail.message.iter_attachments() if p.get_filename() == "appointment.ics"]
    assert isinstance(part, email.message.EmailMessage)
    assert part.get_content_type() == "text/calendar"
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return event


def _text_body(mail: ReceivedMail) -> str:
    part = mail.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _local(moment: datetime) -> str:
    """How the SPEC wants a time shown: the clinic's local wall clock, the zone named."""
    local = moment.astimezone(SAO_PAULO)
    return f"{local:%A}, {local.day} {local:%B} {local.year} at {local:%H:%M} (America/Sao_Paulo)"


async def _patient_with_account(clinic: SeededClinic) -> None:
    """The patient record of the clinic's `patient` user, as registration leaves it."""
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "INSERT INTO patient (clinic_id, user_id, first_name, last_name, email)"
            " VALUES ({}, {}, 'Paula', 'Patient', {})",
            clinic.id,
            clinic.users["patient"],
            clinic.email("patient"),
        )


async def _signed_in(
    stack: AsyncExitStack, base_url: str, clinic: SeededClinic, role: str
) -> httpx.AsyncClient:
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
    await login(client, clinic, role)
    return client


async def _notifications(staff: httpx.AsyncClient, appointment_id: str) -> set[tuple[str, str]]:
    """(template, channel) of every `sent` entry in the notifications log for an appointment."""
    response = await staff.get(
        "/api/notifications", params={"appointmentId": appointment_id, "pageSize": 100}
    )
    assert response.status_code == 200, response.text
    return {
        (n["template"], n["channel"]) for n in response.json()["items"] if n["status"] == "sent"
    }


async def test_a_patient_booking_brings_an_email_with_an_invitation_and_a_text(
    server: str, smtp: LocalSmtp, twilio: LocalTwilio, clinic: SeededClinic
) -> None:
    await _patient_with_account(clinic)
    to, phone = clinic.email("patient"), "+5511955501234"
    async with AsyncExitStack() as stack:
        admin = await _signed_in(stack, server, clinic, "admin")
        patient = await _signed_in(stack, server, clinic, "patient")
        sid, pid = await open_all_day(admin)
        profile = await patient.patch(
            "/api/patients/me", json={"phone": phone, "smsOptIn": True}, headers=csrf(patient)
        )
        assert profile.status_code == 200, profile.text
        booked = await book(patient, sid, pid, local_start(3, 10))
        assert booked.status_code == 201, booked.text
        appointment = booked.json()
        start = datetime.fromisoformat(appointment["start"])
        end = datetime.fromisoformat(appointment["end"])

        mail = await _wait_for(
            "confirmation", lambda: _one(_mails(smtp, to, "Appointment confirmed")), BACKLOG
        )
        invitation = _invitation(mail)
        uid = f"{appointment['id']}@topsmile"
        assert str(invitation["UID"]) == uid
        assert invitation.decoded("DTSTART") == start
        assert invitation.decoded("DTEND") == end
        assert f"When: {_local(start)}" in _text_body(mail)
        text = await _wait_for(
            "confirmation text", lambda: _one(_texts(twilio, phone, "Hi Paula")), 30
        )
        assert "is confirmed for" in text.body
        assert f"{start.astimezone(SAO_PAULO):%H:%M}" in text.body

        # The invitation's UID stays the appointment's when it moves, so calendars update it.
        moved = await act(
            patient, appointment["id"], "reschedule", {"start": local_start(3, 11).isoformat()}
        )
        assert moved.status_code == 200, moved.text
        update = await _wait_for(
            "reschedule email", lambda: _one(_mails(smtp, to, "Appointment moved")), 30
        )
        again = _invitation(update)
        assert str(again["UID"]) == uid
        assert again.decoded("DTSTART") == datetime.fromisoformat(moved.json()["start"])
        # SEQUENCE grows with every move, even one within the second of the booking.
        assert (invitation["SEQUENCE"], again["SEQUENCE"]) == (0, 1)
        await _wait_settled(clinic, [appointment["id"]])  # the log is written after a send
        assert await _notifications(admin, appointment["id"]) == {
            ("appointment_confirmation", "email"),
            ("appointment_confirmation", "sms"),
            ("appointment_rescheduled", "email"),
        }
    assert len(_mails(smtp, to, "Appointment confirmed")) == 1
    assert len(_texts(twilio, phone, "Hi Paula")) == 1


async def _staff_patient(staff: httpx.AsyncClient, name: str, phone: str) -> tuple[str, str]:
    """A patient record with an email, a phone and SMS opted in: (id, email)."""
    address = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"firstName": name, "lastName": "Doe", "email": address, "phone": phone}
    response = await staff.post(
        "/api/patients", json={**body, "smsOptIn": True}, headers=csrf(staff)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), address


def _reminder_plan(lead_seconds: float) -> tuple[datetime, int]:
    """A staff start and a whole-minute reminder offset whose due time (start - offset) is
    between `lead_seconds` and `lead_seconds` + 60 s from now.

    Offsets are whole minutes (1-43200) and patients must book `minNoticeMinutes` (120)
    ahead, so these appointments are booked by the receptionist, whose starts only need to
    be on a 5-minute boundary in the future: the first boundary at least 2 minutes ahead."""
    start = soon(2)
    ahead = (start - datetime.now(UTC)).total_seconds()
    return start, math.floor((ahead - lead_seconds) / 60)


async def test_a_cancelled_appointments_reminder_never_goes_out_and_a_live_one_goes_out_once(
    server: str, smtp: LocalSmtp, twilio: LocalTwilio, clinic: SeededClinic
) -> None:
    async with AsyncExitStack() as stack:
        admin = await _signed_in(stack, server, clinic, "admin")
        staff = await _signed_in(stack, server, clinic, "receptionist")
        sid, pid = await open_all_day(admin)
        gone_id, gone_email = await _staff_patient(staff, "Gil", "+5511955502001")
        kept_id, kept_email = await _staff_patient(staff, "Kim", "+5511955502002")
        start, offset = _reminder_plan(lead_seconds=20)
        patched = await admin.patch(
            "/api/clinic",
            json={"settings": {"reminderOffsetsMinutes": [offset]}},
            headers=csrf(admin),
        )
        assert patched.status_code == 200, patched.text
        due = start - timedelta(minutes=offset)

        # Booked, then cancelled at once: its reminder was scheduled and must be voided.
        gone = await book(staff, sid, pid, start, patientId=gone_id)
        assert gone.status_code == 201, gone.text
        cancelled = await act(staff, gone.json()["id"], "cancel", {"reason": "patient called"})
        assert cancelled.status_code == 200, cancelled.text
        # The freed slot, booked again: this reminder is due at the very same instant.
        kept = await book(staff, sid, pid, start, patientId=kept_id)
        assert kept.status_code == 201, kept.text
        assert datetime.now(UTC) < due, "the plan left too little time before the reminder"

        wait = (due - datetime.now(UTC)).total_seconds() + BACKLOG
        reminder = await _wait_for(
            "reminder", lambda: _one(_mails(smtp, kept_email, "Reminder:")), wait
        )
        assert f"When: {_local(start)}" in _text_body(reminder)
        await _wait_for(
            "reminder text", lambda: _one(_texts(twilio, "+5511955502002", "Reminder:")), 30
        )
        assert datetime.now(UTC) >= due
        await _wait_settled(clinic, [gone.json()["id"], kept.json()["id"]])
        # Two more relay sweeps (1 s apart) past the due time: nothing else may come out.
        await asyncio.sleep(2.5)

        assert len(_mails(smtp, kept_email, "Reminder:")) == 1
        assert len(_texts(twilio, "+5511955502002", "Reminder:")) == 1
        assert _mails(smtp, gone_email, "Reminder:") == []
        assert _texts(twilio, "+5511955502001", "Reminder:") == []
        assert len(_mails(smtp, gone_email, "Appointment cancelled")) == 1
        assert ("appointment_reminder", "email") in await _notifications(staff, kept.json()["id"])
        assert ("appointment_reminder", "sms") in await _notifications(staff, kept.json()["id"])
        gone_log = await _notifications(staff, gone.json()["id"])
        assert {t for t, _ in gone_log} == {"appointment_confirmation", "appointment_cancelled"}
    assert await _reminder_deliveries(clinic, gone.json()["id"]) == {"cancelled"}
    assert await _reminder_deliveries(clinic, kept.json()["id"]) == {"delivered"}


async def _reminder_deliveries(clinic: SeededClinic, appointment_id: str) -> set[str]:
    """The statuses of an appointment's reminder deliveries, straight from the outbox."""
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT d.status FROM event_delivery d JOIN event_outbox e ON e.id = d.event_id"
            " WHERE e.name = 'appointment.reminder_due' AND e.entity_id = {}",
            appointment_id,
        )
    assert rows, "no reminder was ever scheduled"
    return {row["status"] for row in rows}


async def _wait_settled(clinic: SeededClinic, appointment_ids: list[str]) -> None:
    """Wait until every delivery about these appointments that is due is final (none pending
    or leased); reminders due later stay pending."""
    deadline = time.monotonic() + BACKLOG
    while True:
        async with db.tenant_transaction(clinic.id):
            rows = await db.fetch(
                "SELECT count(*) AS n FROM event_delivery d JOIN event_outbox e"
                " ON e.id = d.event_id WHERE e.entity_id = ANY({}::text[])"
                " AND d.status NOT IN ('delivered', 'cancelled', 'dead')"
                " AND d.next_attempt_at <= now()",
                appointment_ids,
            )
        if rows[0]["n"] == 0:
            return
        assert time.monotonic() < deadline, f"{rows[0]['n']} deliveries still open"
        await asyncio.sleep(0.2)
