"""Words of every notification (SPEC §7 template names) and the `.ics` invitation (built
with the `icalendar` library, which escapes, folds and ends lines per RFC 5545).

Templates are `string.Template`s. Each value is substituted as plain text into the text part
and HTML-escaped into the HTML part; subjects carry no patient name, since mail subjects end
up in logs and notification lists.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parseaddr
from string import Template
from typing import NamedTuple
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

from topsmile.core.clock import now
from topsmile.events.types import AccountLink, AppointmentNotice, PaymentNotice

Payload = AccountLink | AppointmentNotice | PaymentNotice

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# ISO 4217 currencies whose minor unit is not a hundredth (as Stripe counts them).
_ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


class _Email(NamedTuple):
    subject: Template
    text: Template
    html: Template


def _email(subject: str, text: str, html_body: str) -> _Email:
    return _Email(Template(subject), Template(text), Template(html_body))


_DETAILS_TEXT = "Service: $service\nWith: $provider\nWhen: $when\nClinic: $clinic\n"
_DETAILS_HTML = (
    "<table>"
    '<tr><th align="left">Service</th><td>$service</td></tr>'
    '<tr><th align="left">With</th><td>$provider</td></tr>'
    '<tr><th align="left">When</th><td>$when</td></tr>'
    '<tr><th align="left">Clinic</th><td>$clinic</td></tr>'
    "</table>"
)

_EMAILS: dict[str, _Email] = {
    "verify_email": _email(
        "Confirm your email for $clinic",
        "Hi $first_name,\n\nPlease confirm your email address for $clinic by opening this "
        "link:\n\n$link\n\nIf you did not sign up, you can ignore this email.\n",
        "<p>Hi $first_name,</p><p>Please confirm your email address for $clinic.</p>"
        '<p><a href="$link">Confirm my email</a></p><p>Or open this link: $link</p>'
        "<p>If you did not sign up, you can ignore this email.</p>",
    ),
    "password_reset": _email(
        "Reset your $clinic password",
        "Hi $first_name,\n\nSomeone asked to reset the password of your $clinic account. "
        "To choose a new one, open this link:\n\n$link\n\n"
        "If it was not you, ignore this email: your password stays as it is.\n",
        "<p>Hi $first_name,</p><p>Someone asked to reset the password of your $clinic "
        'account.</p><p><a href="$link">Choose a new password</a></p>'
        "<p>Or open this link: $link</p>"
        "<p>If it was not you, ignore this email: your password stays as it is.</p>",
    ),
    "appointment_confirmation": _email(
        "Appointment confirmed: $service on $short_when",
        "Hi $first_name,\n\nYour appointment is confirmed.\n\n"
        + _DETAILS_TEXT
        + "\nThe attached invitation adds it to your calendar.\n",
        "<p>Hi $first_name,</p><p>Your appointment is confirmed.</p>"
        + _DETAILS_HTML
        + "<p>The attached invitation adds it to your calendar.</p>",
    ),
    "appointment_rescheduled": _email(
        "Appointment moved: $service now on $short_when",
        "Hi $first_name,\n\nYour appointment has moved.\n\n${previous_line}"
        + _DETAILS_TEXT.replace("When:", "New time:"),
        "<p>Hi $first_name,</p><p>Your appointment has moved.</p>${previous_line}"
        + _DETAILS_HTML.replace(">When<", ">New time<"),
    ),
    "appointment_cancelled": _email(
        "Appointment cancelled: $service on $short_when",
        "Hi $first_name,\n\nYour appointment has been cancelled.\n\n${reason_line}"
        + _DETAILS_TEXT
        + "\nTo book another time, contact $clinic.\n",
        "<p>Hi $first_name,</p><p>Your appointment has been cancelled.</p>${reason_line}"
        + _DETAILS_HTML
        + "<p>To book another time, contact $clinic.</p>",
    ),
    "appointment_reminder": _email(
        "Reminder: $service on $short_when",
        "Hi $first_name,\n\nThis is a reminder of your upcoming appointment.\n\n" + _DETAILS_TEXT,
        "<p>Hi $first_name,</p><p>This is a reminder of your upcoming appointment.</p>"
        + _DETAILS_HTML,
    ),
    "payment_receipt": _email(
        "Payment receipt from $clinic",
        "Hi $first_name,\n\nWe received your payment of $amount to $clinic for $service "
        "on $when.\n\nReference: $payment_id\n\nThank you.\n",
        "<p>Hi $first_name,</p><p>We received your payment of <strong>$amount</strong> to "
        "$clinic for $service on $when.</p><p>Reference: $payment_id</p><p>Thank you.</p>",
    ),
}

_PAYLOAD_KINDS: dict[str, type[Payload]] = {
    "verify_email": AccountLink,
    "password_reset": AccountLink,
    "appointment_confirmation": AppointmentNotice,
    "appointment_rescheduled": AppointmentNotice,
    "appointment_cancelled": AppointmentNotice,
    "appointment_reminder": AppointmentNotice,
    "payment_receipt": PaymentNotice,
}

_PAGE = Template(
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.4">'
    '$body<hr><p style="color:#666;font-size:12px">$clinic</p></body></html>'
)

# SMS: ASCII punctuation only (a single em dash would switch the whole text to UCS-2 and
# halve the characters per segment), each value clipped so every text stays under 300.
_SMS: dict[str, Template] = {
    "appointment_confirmation": Template(
        "Hi $first_name, your $service with $provider at $clinic is confirmed for $when."
    ),
    "appointment_reminder": Template(
        "Reminder: $first_name, your $service with $provider at $clinic is on $when."
    ),
    "appointment_rescheduled": Template(
        "Hi $first_name, your $service at $clinic moved from $previous to $when (with $provider)."
    ),
    "appointment_cancelled": Template(
        "Hi $first_name, your $service at $clinic on $when was cancelled.$reason"
    ),
}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_time(moment: datetime, zone: str) -> str:
    """`Tuesday, 24 November 2026 at 14:30 (America/Sao_Paulo)`, in the clinic's zone."""
    local = _aware(moment).astimezone(ZoneInfo(zone))
    return (
        f"{_DAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"at {local:%H:%M} ({zone})"
    )


def _short_time(moment: datetime, zone: str) -> str:
    """`Tue 24 Nov 2026, 14:30`: for subjects and texts, where space is short."""
    local = _aware(moment).astimezone(ZoneInfo(zone))
    return (
        f"{_DAYS[local.weekday()][:3]} {local.day} {_MONTHS[local.month - 1][:3]} "
        f"{local.year}, {local:%H:%M}"
    )


def format_amount(amount: int, currency: str) -> str:
    """Minor units to `BRL 150.00` (or `JPY 1500`, `KWD 1.500`)."""
    code = currency.lower()
    places = 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2
    return f"{code.upper()} {Decimal(amount).scaleb(-places):.{places}f}"


def _values(template: str, payload: Payload) -> dict[str, str]:
    kind = _PAYLOAD_KINDS[template]
    if not isinstance(payload, kind):
        raise TypeError(f"{template} renders a {kind.__name__}, got {type(payload).__name__}")
    values = {"first_name": payload.recipient.first_name, "clinic": payload.clinic_name}
    if isinstance(payload, AccountLink):
        values["link"] = payload.link
    elif isinstance(payload, AppointmentNotice):
        values["service"] = payload.service_name
        values["provider"] = payload.provider_name
        values["when"] = local_time(payload.start, payload.timezone)
        values["short_when"] = _short_time(payload.start, payload.timezone)
    else:
        values["service"] = payload.service_name
        values["when"] = local_time(payload.start, payload.timezone)
        values["amount"] = format_amount(payload.amount, payload.currency)
        values["payment_id"] = str(payload.payment_id)
    return values


def _optional_lines(payload: Payload) -> tuple[dict[str, str], dict[str, str]]:
    """Lines shown only when the payload has them: as text, and as (escaped) HTML."""
    text: dict[str, str] = {"previous_line": "", "reason_line": ""}
    markup = dict(text)
    if isinstance(payload, AppointmentNotice):
        if payload.previous_start is not None:
            previous = local_time(payload.previous_start, payload.timezone)
            text["previous_line"] = f"Previous time: {previous}\n"
            markup["previous_line"] = f"<p>Previous time: <s>{html.escape(previous)}</s></p>"
        if payload.reason:
            text["reason_line"] = f"Reason: {payload.reason}\n\n"
            markup["reason_line"] = f"<p>Reason: {html.escape(payload.reason)}</p>"
    return text, markup


def render_email(template: str, payload: Payload) -> tuple[str, str, str]:
    """Render one SPEC §7 email as (subject, plain text, HTML). Unknown names raise KeyError."""
    parts = _EMAILS[template]
    values = _values(template, payload)
    text_lines, html_lines = _optional_lines(payload)
    escaped = {key: html.escape(value) for key, value in values.items()}
    subject = " ".join(parts.subject.substitute(values).split())
    text = parts.text.substitute(values, **text_lines)
    body = parts.html.substitute(escaped, **html_lines)
    return subject, text, _PAGE.substitute(body=body, clinic=escaped["clinic"])


def _clip(value: str, limit: int) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 3].rstrip() + "..."


def render_sms(template: str, payload: AppointmentNotice) -> str:
    """Render one appointment text message (always under 300 characters)."""
    body = _SMS[template]
    if not isinstance(payload, AppointmentNotice):
        raise TypeError(f"{template} renders an AppointmentNotice, got {type(payload).__name__}")
    previous = payload.previous_start
    reason = f" Reason: {_clip(payload.reason, 60)}" if payload.reason else ""
    return body.substitute(
        first_name=_clip(payload.recipient.first_name, 20),
        service=_clip(payload.service_name, 40),
        provider=_clip(payload.provider_name, 40),
        clinic=_clip(payload.clinic_name, 40),
        when=_short_time(payload.start, payload.timezone),
        previous=_short_time(previous, payload.timezone) if previous else "an earlier time",
        reason=reason,
    )


# --- iCalendar (RFC 5545) --------------------------------------------------------------------

_ICS_METHODS = {"REQUEST": "CONFIRMED", "PUBLISH": "CONFIRMED", "CANCEL": "CANCELLED"}


def _ics_mailto(address: str) -> str:
    _, addr = parseaddr(address)
    return "mailto:" + "".join(ch for ch in addr if ch > " ")


def _ics_name(value: str) -> str:
    # A parameter value may hold anything but DQUOTE and control characters.
    return "".join(ch for ch in value if ch >= " " and ch != '"')


def appointment_ics(
    notice: AppointmentNotice,
    *,
    method: str = "REQUEST",
    sequence: int = 0,
    organizer: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT for the appointment, ready to attach as text/calendar.

    `sequence` must grow with every update of the same appointment (a reschedule) for
    calendar clients to replace the event they already hold; `organizer` is a mail address.
    """
    method = method.upper()
    if method not in _ICS_METHODS:
        raise ValueError(f"unsupported iTIP method {method!r}")
    when = local_time(notice.start, notice.timezone)
    calendar = Calendar()
    calendar.add("prodid", "-//TopSmile//Appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{notice.appointment_id}@topsmile")
    event.add("sequence", sequence)
    event.add("dtstamp", _aware(now()).astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", _aware(notice.start).astimezone(UTC))
    event.add("dtend", _aware(notice.end).astimezone(UTC))
    event.add("summary", f"{notice.service_name} — {notice.clinic_name}")
    event.add(
        "description", f"Appointment with {notice.provider_name} at {notice.clinic_name}, {when}."
    )
    event.add("status", _ICS_METHODS[method])
    if organizer:
        event.add("organizer", vCalAddress(_ics_mailto(organizer)))
        event["organizer"].params["CN"] = _ics_name(notice.clinic_name)
    recipient = notice.recipient
    if recipient.email:
        attendee = vCalAddress(_ics_mailto(recipient.email))
        attendee.params["CN"] = _ics_name(f"{recipient.first_name} {recipient.last_name}".strip())
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["RSVP"] = "FALSE"
        event.add("attendee", attendee, encode=False)
    calendar.add_component(event)
    ics: bytes = calendar.to_ical()
    return ics
