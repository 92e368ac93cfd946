"""Which events notifications handle: the email and SMS handlers and their event types."""

from __future__ import annotations

from topsmile.config import Settings
from topsmile.events.bus import Bus
from topsmile.notifications.email import email_sender
from topsmile.notifications.handlers import EMAIL_TEMPLATES, SMS_TEMPLATES, Notifier
from topsmile.notifications.sms import sms_sender


def subscribe(bus: Bus, settings: Settings) -> None:
    notifier = Notifier(email_sender(settings), sms_sender(settings), settings)
    bus.subscribe("email", EMAIL_TEMPLATES, notifier.email, notifier.email_failed)
    bus.subscribe("sms", SMS_TEMPLATES, notifier.sms, notifier.sms_failed)
