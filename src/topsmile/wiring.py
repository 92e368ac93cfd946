"""The composition root of the bus: every process builds the same handlers here.

Each subscriber names the events it wants; `events/` itself knows no handler.
"""

from __future__ import annotations

from topsmile.audit import service as audit
from topsmile.config import Settings
from topsmile.events.bus import Bus
from topsmile.notifications import subscriptions as notifications
from topsmile.payments import refunds as payments


def build_bus(settings: Settings) -> Bus:
    bus = Bus()
    audit.subscribe(bus)
    notifications.subscribe(bus, settings)
    payments.subscribe(bus, settings)
    return bus
