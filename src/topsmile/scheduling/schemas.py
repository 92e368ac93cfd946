"""Wire shapes of the scheduling catalogue (SPEC §5)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

from topsmile.core.schemas import Input, Output
from topsmile.core.validation import Description, Email, Name, Notes, Reason, ShortText, whole

MAX_BUFFER_MINUTES = 240
MAX_DURATION_MINUTES = 480
# The longest occupied block an appointment can have, which the database also holds every row
# to (`appointment_block_length_check`): so every block overlapping a window starts after the
# window's start minus this, the bound that keeps reads of a provider's blocks to an index
# range around the window instead of the provider's whole history.
MAX_OCCUPIED = timedelta(minutes=MAX_DURATION_MINUTES + 2 * MAX_BUFFER_MINUTES)
Buffer = Annotated[int, msgspec.Meta(ge=0, le=MAX_BUFFER_MINUTES)]
Duration = Annotated[int, msgspec.Meta(ge=5, le=MAX_DURATION_MINUTES)]
Price = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_00)]
Color = Annotated[str, msgspec.Meta(pattern=whole(r"#[0-9A-Fa-f]{6}"))]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7)]
WallClock = Annotated[str, msgspec.Meta(pattern=whole(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00"))]
Instant = Annotated[datetime, msgspec.Meta(tz=True)]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class ProviderCreate(Input):
    first_name: Name
    last_name: Name
    email: Email | None = None
    specialty: ShortText | None = None
    user_id: uuid.UUID | None = None
    service_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    buffer_before_minutes: Buffer = 0
    buffer_after_minutes: Buffer = 0


class ProviderPatch(Input):
    first_name: Name | Unset = UNSET
    last_name: Name | Unset = UNSET
    email: Email | Unset | None = UNSET
    specialty: ShortText | Unset | None = UNSET
    user_id: uuid.UUID | Unset | None = UNSET
    service_ids: list[uuid.UUID] | Unset = UNSET
    buffer_before_minutes: Buffer | Unset = UNSET
    buffer_after_minutes: Buffer | Unset = UNSET
    active: bool | Unset = UNSET


class ProviderView(Output):
    id: uuid.UUID
    first_name: str
    last_name: str
    specialty: str | None
    service_ids: list[uuid.UUID]
    email: str | None = None
    user_id: uuid.UUID | None = None
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PublicProviderView(Output):
    """What a patient (or the public booking page) sees of a provider."""

    id: uuid.UUID
    first_name: str
    last_name: str
    specialty: str | None
    service_ids: list[uuid.UUID]


class ServiceCreate(Input):
    name: Name
    duration_minutes: Duration
    price_amount: Price
    description: Description | None = None
    buffer_before_minutes: Buffer | None = None
    buffer_after_minutes: Buffer | None = None
    color: Color | None = None
    category: ShortText | None = None
    online_bookable: bool = True
    requires_approval: bool = False


class ServicePatch(Input):
    name: Name | Unset = UNSET
    duration_minutes: Duration | Unset = UNSET
    price_amount: Price | Unset = UNSET
    description: Description | Unset | None = UNSET
    buffer_before_minutes: Buffer | Unset | None = UNSET
    buffer_after_minutes: Buffer | Unset | None = UNSET
    color: Color | Unset | None = UNSET
    category: ShortText | Unset | None = UNSET
    online_bookable: bool | Unset = UNSET
    requires_approval: bool | Unset = UNSET
    active: bool | Unset = UNSET


class ServiceView(Output):
    id: uuid.UUID
    name: str
    description: str | None
    duration_minutes: int
    price_amount: int
    currency: str
    buffer_before_minutes: int | None
    buffer_after_minutes: int | None
    color: str | None
    category: str | None
    online_bookable: bool
    requires_approval: bool
    active: bool


class WorkingInterval(Input):
    weekday: Weekday
    start: WallClock
    end: WallClock


class WorkingIntervalView(Output):
    weekday: int
    start: str
    end: str


class PeriodCreate(Input):
    start: Instant
    end: Instant
    reason: Reason | None = None


class PeriodView(Output, omit_defaults=True):
    id: uuid.UUID
    start: datetime
    end: datetime
    reason: str | None = None
    provider_id: uuid.UUID | None = None


class SlotView(Output, gc=False, kw_only=False):
    # Hundreds per availability answer, built by `map` in C (so positional fields); an id
    # and two instants cannot form a reference cycle, so the collector need not track them.
    provider_id: uuid.UUID
    start: datetime
    end: datetime


class AvailabilityView(Output):
    timezone: str
    service_id: uuid.UUID
    slots: list[SlotView]


class PublicClinic(Output):
    name: str
    slug: str
    timezone: str
    currency: str


class PublicClinicView(Output):
    """The clinic's booking page before sign-in (SPEC §6 public browsing)."""

    clinic: PublicClinic
    services: list[ServiceView]
    providers: list[PublicProviderView]


# --- Appointments (SPEC §6) -------------------------------------------------------------------

Status = Literal[
    "pending",
    "scheduled",
    "confirmed",
    "checked_in",
    "in_progress",
    "completed",
    "cancelled",
    "no_show",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


class AppointmentCreate(Input):
    service_id: uuid.UUID
    provider_id: uuid.UUID
    start: Instant
    patient_id: uuid.UUID | None = None
    notes: Notes | None = None


class Reschedule(Input):
    start: Instant
    provider_id: uuid.UUID | None = None
    reason: Reason | None = None


class Cancel(Input):
    reason: Reason | None = None


class StatusChange(Input):
    status: Status
    note: Reason | None = None


class AppointmentView(Output):
    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    start: datetime
    end: datetime
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


class HistoryView(Output):
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    from_status: str | None
    to_status: str | None
    old_start: datetime | None
    new_start: datetime | None
    reason: str | None
