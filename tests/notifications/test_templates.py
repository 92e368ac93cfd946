"""Rendering of every SPEC §7 template, and the `.ics` invitation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from icalendar import Calendar, Event

from topsmile.core import clock
from topsmile.events.types import AccountLink, AppointmentNotice, PaymentNotice, Recipient
from topsmile.notifications.templates import (
    appointment_ics,
    format_amount,
    local_time,
    render_email,
    render_sms,
)

ANA = Recipient(
    first_name="Ana", last_name="Souza", email="ana@example.com", phone="+5511987654321"
)
APPOINTMENT_ID = uuid.UUID("6f1c1e2a-0000-4000-8000-000000000042")
# 17:30 UTC is 14:30 in São Paulo (UTC-3 all year since 2019).
NOTICE = AppointmentNotice(
    appointment_id=APPOINTMENT_ID,
    recipient=ANA,
    clinic_name="Clínica Sorriso",
    timezone="America/Sao_Paulo",
    service_name="Cleaning",
    provider_name="Dr. Lima",
    start=datetime(2026, 11, 24, 17, 30, tzinfo=UTC),
    end=datetime(2026, 11, 24, 18, 0, tzinfo=UTC),
)
SAO_PAULO_TIME = "Tuesday, 24 November 2026 at 14:30 (America/Sao_Paulo)"
PAYMENT = PaymentNotice(
    payment_id=uuid.uuid4(),
    appointment_id=APPOINTMENT_ID,
    recipient=ANA,
    clinic_name="Clínica Sorriso",
    timezone="America/Sao_Paulo",
    service_name="Cleaning",
    start=NOTICE.start,
    amount=15000,
    currency="brl",
)
TOKEN = AccountLink(
    recipient=ANA,
    clinic_name="Clínica Sorriso",
    link="https://app.example/verify-email?token=abc&next=%2F",
)
APPOINTMENT_TEMPLATES = [
    "appointment_confirmation",
    "appointment_rescheduled",
    "appointment_cancelled",
    "appointment_reminder",
]


def replace(notice: AppointmentNotice, **changes: object) -> AppointmentNotice:
    return msgspec.structs.replace(notice, **changes)


@pytest.mark.parametrize("template", APPOINTMENT_TEMPLATES)
def test_appointment_emails_show_the_local_time_in_the_clinic_zone(template: str) -> None:
    subject, text, html = render_email(template, NOTICE)

    assert "Tue 24 Nov 2026, 14:30" in subject
    assert "Ana" not in subject
    for part in (text, html):
        assert SAO_PAULO_TIME in part
        assert "Hi Ana," in part
        assert "Cleaning" in part
        assert "Dr. Lima" in part
        assert "Clínica Sorriso" in part
    assert "17:30" not in text
    assert html.startswith("<!doctype html>")


def test_the_offset_follows_daylight_saving_time() -> None:
    # New York moves to EDT (UTC-4) on 8 March 2026; 15:00 UTC is 10:00 before, 11:00 after.
    notice = replace(
        NOTICE,
        timezone="America/New_York",
        previous_start=datetime(2026, 3, 6, 15, 0, tzinfo=UTC),
        start=datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
        end=datetime(2026, 3, 9, 15, 30, tzinfo=UTC),
    )
    subject, text, _ = render_email("appointment_rescheduled", notice)

    assert "Previous time: Friday, 6 March 2026 at 10:00 (America/New_York)" in text
    assert "New time: Monday, 9 March 2026 at 11:00 (America/New_York)" in text
    assert subject == "Appointment moved: Cleaning now on Mon 9 Mar 2026, 11:00"


def test_local_time_of_a_naive_datetime_is_read_as_utc() -> None:
    assert local_time(datetime(2026, 11, 24, 17, 30), "America/Sao_Paulo") == SAO_PAULO_TIME


def test_rescheduled_without_previous_time_leaves_the_line_out() -> None:
    _, text, html = render_email("appointment_rescheduled", NOTICE)
    assert "Previous time" not in text
    assert "Previous time" not in html


def test_cancelled_shows_the_reason_only_when_there_is_one() -> None:
    _, text, html = render_email("appointment_cancelled", replace(NOTICE, reason="Dentist ill"))
    assert "Reason: Dentist ill" in text
    assert "Reason: Dentist ill" in html

    _, text, html = render_email("appointment_cancelled", NOTICE)
    assert "Reason" not in text
    assert "Reason" not in html


def test_html_escapes_every_interpolated_value() -> None:
    hostile = Recipient(first_name="<script>alert(1)</script>", email="x@example.com")
    notice = replace(
        NOTICE,
        recipient=hostile,
        clinic_name="Smith & Sons",
        service_name='Crown "gold" <b>',
        provider_name="Dr. <i>Who</i>",
        previous_start=NOTICE.start - timedelta(days=1),
        reason="<img src=x onerror=alert(1)>",
    )
    for template in APPOINTMENT_TEMPLATES:
        _, text, html = render_email(template, notice)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "Smith &amp; Sons" in html
        assert "Crown &quot;gold&quot; &lt;b&gt;" in html
        assert "<i>" not in html
        assert "<img" not in html
        assert "<script>alert(1)</script>" in text  # plain text is not HTML

    token = AccountLink(
        recipient=hostile, clinic_name="A&B", link='https://x.example/?t=1&u="><script>'
    )
    _, _, html = render_email("verify_email", token)
    assert '<a href="https://x.example/?t=1&amp;u=&quot;&gt;&lt;script&gt;">' in html
    assert "<script>" not in html


@pytest.mark.parametrize("template", ["verify_email", "password_reset"])
def test_token_emails_show_the_link(template: str) -> None:
    subject, text, html = render_email(template, TOKEN)
    assert "Clínica Sorriso" in subject
    assert "https://app.example/verify-email?token=abc&next=%2F" in text
    assert 'href="https://app.example/verify-email?token=abc&amp;next=%2F"' in html
    assert "Hi Ana," in text


def test_payment_receipt_shows_the_amount_in_major_units() -> None:
    subject, text, html = render_email("payment_receipt", PAYMENT)
    assert subject == "Payment receipt from Clínica Sorriso"
    assert "BRL 150.00" in text
    assert "<strong>BRL 150.00</strong>" in html
    assert SAO_PAULO_TIME in text
    assert str(PAYMENT.payment_id) in text


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(15000, "brl", "BRL 150.00"), (5, "usd", "USD 0.05"), (1500, "jpy", "JPY 1500"),
     (1500, "kwd", "KWD 1.500"), (-2550, "eur", "EUR -25.50")],
)  # fmt: skip
def test_format_amount(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


def test_unknown_template_or_wrong_payload_is_refused() -> None:
    with pytest.raises(KeyError):
        render_email("appointment_party", NOTICE)
    with pytest.raises(KeyError):
        render_sms("verify_email", NOTICE)
    with pytest.raises(TypeError):
        render_email("payment_receipt", NOTICE)
    with pytest.raises(TypeError):
        render_email("appointment_reminder", TOKEN)


@pytest.mark.parametrize("template", APPOINTMENT_TEMPLATES)
def test_sms_is_short_and_shows_the_local_time(template: str) -> None:
    text = render_sms(template, replace(NOTICE, reason="Dentist ill"))
    assert "Tue 24 Nov 2026, 14:30" in text
    assert "Ana" in text
    assert "Cleaning" in text
    assert len(text) < 160

    long = "W" * 500
    worst = replace(
        NOTICE,
        recipient=Recipient(first_name=long),
        clinic_name=long,
        service_name=long,
        provider_name=long,
        previous_start=NOTICE.start,
        reason=long,
    )
    assert len(render_sms(template, worst)) < 300


def test_sms_rescheduled_shows_both_times() -> None:
    notice = replace(NOTICE, previous_start=NOTICE.start - timedelta(days=2))
    text = render_sms("appointment_rescheduled", notice)
    assert "from Sun 22 Nov 2026, 14:30 to Tue 24 Nov 2026, 14:30" in text


def unfold(ics: bytes) -> list[str]:
    return ics.replace(b"\r\n ", b"").decode().split("\r\n")


def parse(ics: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_ics_structure() -> None:
    clock.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC) - clock.now())
    try:
        ics = appointment_ics(NOTICE)
    finally:
        clock.reset()
    lines = unfold(ics)
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-3:] == ["END:VEVENT", "END:VCALENDAR", ""]  # the last line ends with CRLF too

    calendar, event = parse(ics)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//TopSmile//Appointments//EN"
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == f"{APPOINTMENT_ID}@topsmile"
    assert event["SEQUENCE"] == 0
    stamp = event.decoded("DTSTAMP")
    assert stamp.tzinfo is not None
    assert timedelta(0) <= stamp - datetime(2026, 11, 1, 12, 0, tzinfo=UTC) < timedelta(minutes=1)
    assert event.decoded("DTSTART") == datetime(2026, 11, 24, 17, 30, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert "DTSTART:20261124T173000Z" in lines  # UTC form, no TZID
    assert event["SUMMARY"] == "Cleaning — Clínica Sorriso"
    assert "Dr. Lima" in event["DESCRIPTION"]
    assert "Clínica Sorriso, Tuesday, 24 November 2026 at 14:30" in event["DESCRIPTION"]
    assert event["STATUS"] == "CONFIRMED"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:ana@example.com"
    assert attendee.params["CN"] == "Ana Souza"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["RSVP"] == "FALSE"
    assert "ORGANIZER" not in event


def test_ics_uid_is_stable_per_appointment() -> None:
    _, first = parse(appointment_ics(NOTICE))
    _, again = parse(appointment_ics(replace(NOTICE, start=NOTICE.start + timedelta(days=1))))
    assert first["UID"] == again["UID"]


def test_ics_cancel_and_organizer() -> None:
    calendar, event = parse(
        appointment_ics(NOTICE, method="cancel", sequence=3, organizer="TS <no-reply@ts.example>")
    )
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 3
    assert str(event["ORGANIZER"]) == "mailto:no-reply@ts.example"
    assert event["ORGANIZER"].params["CN"] == "Clínica Sorriso"
    with pytest.raises(ValueError, match="method"):
        appointment_ics(NOTICE, method="REPLY")


def test_ics_escapes_text_values() -> None:
    notice = replace(NOTICE, service_name="Clean, polish; whiten\\more\nsecond line")
    ics = appointment_ics(notice)
    assert "SUMMARY:Clean\\, polish\\; whiten\\\\more\\nsecond line — Clínica Sorriso" in unfold(
        ics
    )
    _, event = parse(ics)
    assert event["SUMMARY"] == "Clean, polish; whiten\\more\nsecond line — Clínica Sorriso"


def test_ics_uses_crlf_and_folds_at_75_octets_without_splitting_characters() -> None:
    notice = replace(
        NOTICE,
        clinic_name="Clínica Odontológica São João — Atenção Integral à Saúde Bucal 😀" * 3,
        provider_name="Dra. Conceição Araújo " * 10,
    )
    ics = appointment_ics(notice)

    assert b"\n" not in ics.replace(b"\r\n", b"")
    assert b"\r" not in ics.replace(b"\r\n", b"")
    physical = ics.split(b"\r\n")
    assert max(len(line) for line in physical) == 75  # long lines were folded, to the limit
    assert sum(1 for line in physical if line.startswith(b" ")) > 5
    for line in physical:
        line.decode()  # raises if a fold cut a UTF-8 sequence in two
    summary = next(line for line in unfold(ics) if line.startswith("SUMMARY:"))
    assert summary == f"SUMMARY:Cleaning — {notice.clinic_name}"
    _, event = parse(ics)
    assert event["SUMMARY"] == f"Cleaning — {notice.clinic_name}"
    assert notice.provider_name in event["DESCRIPTION"]
