"""The scheduling catalogue's tables as the code reads them (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class ProviderRow(Row, frozen=True):
    __table__ = "provider"

    id: uuid.UUID
    clinic_id: uuid.UUID
    user_id: uuid.UUID | None
    first_name: str
    last_name: str
    email: str | None
    specialty: str | None
    buffer_before_minutes: int
    buffer_after_minutes: int
    active: bool
    created_at: datetime
    updated_at: datetime


class ProviderServiceRow(Row, frozen=True):
    __table__ = "provider_service"

    clinic_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID


class ServiceRow(Row, frozen=True):
    __table__ = "clinic_service"

    id: uuid.UUID
    clinic_id: uuid.UUID
    name: str
    description: str | None
    duration_minutes: int
    price_amount: int
    buffer_before_minutes: int | None
    buffer_after_minutes: int | None
    color: str | None
    category: str | None
    online_bookable: bool
    requires_approval: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class WorkingHoursRow(Row, frozen=True):
    __table__ = "working_hours"

    id: uuid.UUID
    clinic_id: uuid.UUID
    provider_id: uuid.UUID
    weekday: int
    start_minute: int
    end_minute: int


class TimeOffRow(Row, frozen=True):
    __table__ = "time_off"

    id: uuid.UUID
    clinic_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime


class ClosureRow(Row, frozen=True):
    __table__ = "closure"

    id: uuid.UUID
    clinic_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime


class AppointmentRow(Row, frozen=True):
    __table__ = "appointment"

    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    occupied_start: datetime
    occupied_end: datetime
    status: str
    notes: str | None
    price_amount: int
    currency: str
    payment_status: str
    cancellation_reason: str | None
    cancelled_at: datetime | None
    late_cancellation: bool
    created_at: datetime
    updated_at: datetime


class AppointmentHistoryRow(Row, frozen=True):
    __table__ = "appointment_history"

    id: uuid.UUID
    clinic_id: uuid.UUID
    appointment_id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    from_status: str | None
    to_status: str | None
    old_start: datetime | None
    new_start: datetime | None
    reason: str | None
