"""The composition root of the bus: every process builds the same handlers here."""

from __future__ import annotations

from topsmile.audit.service import audit_event
from topsmile.config import Settings
from topsmile.events.bus import ALL_EVENTS, Bus
from topsmile.notifications.email import email_sender
from topsmile.notifications.handlers import EMAIL_TEMPLATES, SMS_TEMPLATES, Notifier
from topsmile.notifications.sms import sms_sender


def build_bus(settings: Settings) -> Bus:
    bus = Bus()
    bus.subscribe("audit", [ALL_EVENTS], audit_event)
    notifier = Notifier(email_sender(settings), sms_sender(settings), settings)
    bus.subscribe("email", EMAIL_TEMPLATES, notifier.email, notifier.email_failed)
    bus.subscribe("sms", SMS_TEMPLATES, notifier.sms, notifier.sms_failed)
    return bus
