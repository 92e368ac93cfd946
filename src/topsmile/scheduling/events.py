"""Events of providers, services, closures and appointments (the `payment.*` ones live in
payments/events.py)."""

from __future__ import annotations

import uuid

import msgspec

from topsmile.events.catalogue import Changed, NoPayload, declare
from topsmile.events.types import AppointmentNotice


class TimeOff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    time_off_id: uuid.UUID


PROVIDER_CREATED = declare("provider.created", "provider", NoPayload)
PROVIDER_UPDATED = declare("provider.updated", "provider", Changed)
PROVIDER_DEACTIVATED = declare("provider.deactivated", "provider", NoPayload)
PROVIDER_HOURS_CHANGED = declare("provider.hours_changed", "provider", NoPayload)
PROVIDER_TIME_OFF_ADDED = declare("provider.time_off_added", "provider", TimeOff)
PROVIDER_TIME_OFF_REMOVED = declare("provider.time_off_removed", "provider", TimeOff)

SERVICE_CREATED = declare("service.created", "service", NoPayload)
SERVICE_UPDATED = declare("service.updated", "service", NoPayload)
SERVICE_DEACTIVATED = declare("service.deactivated", "service", NoPayload)
CLOSURE_CREATED = declare("closure.created", "closure", NoPayload)
CLOSURE_REMOVED = declare("closure.removed", "closure", NoPayload)

APPOINTMENT_CREATED = declare("appointment.created", "appointment", AppointmentNotice)
APPOINTMENT_RESCHEDULED = declare("appointment.rescheduled", "appointment", AppointmentNotice)
APPOINTMENT_CANCELLED = declare("appointment.cancelled", "appointment", AppointmentNotice)
APPOINTMENT_REMINDER_DUE = declare("appointment.reminder_due", "appointment", AppointmentNotice)
APPOINTMENT_STATUS_CHANGED = declare("appointment.status_changed", "appointment", AppointmentNotice)
