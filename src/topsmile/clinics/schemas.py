"""Wire shapes of clinics (SPEC §4); users' are in users/schemas.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from topsmile.clinics.tables import ClinicRow
from topsmile.core.schemas import Input, Output
from topsmile.core.validation import Currency, Email, Name, Password, Timezone
from topsmile.users.schemas import UserView

Minutes = Annotated[int, msgspec.Meta(ge=1, le=43200)]


class ClinicSettings(Output, forbid_unknown_fields=True):
    slot_interval_minutes: Annotated[int, msgspec.Meta(ge=5, le=120)] = 15
    min_notice_minutes: Annotated[int, msgspec.Meta(ge=0, le=43200)] = 120
    booking_horizon_days: Annotated[int, msgspec.Meta(ge=1, le=730)] = 90
    cancellation_window_hours: Annotated[int, msgspec.Meta(ge=0, le=720)] = 24
    reminder_offsets_minutes: Annotated[list[Minutes], msgspec.Meta(max_length=5)] = msgspec.field(
        default_factory=lambda: [1440, 120]
    )
    require_verified_email_to_book: bool = False


class ClinicView(Output):
    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    currency: str
    settings: ClinicSettings


class AdminInput(Input):
    email: Email
    password: Password
    first_name: Name
    last_name: Name


class ClinicSignup(Input):
    name: Name
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    timezone: Timezone
    currency: Currency
    admin: AdminInput


class ClinicPatch(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class SignupResult(Output):
    clinic: ClinicView
    user: UserView


def clinic_view(row: ClinicRow) -> ClinicView:
    return ClinicView(
        id=row.id,
        name=row.name,
        slug=row.slug,
        timezone=row.timezone,
        currency=row.currency,
        settings=msgspec.json.decode(row.settings, type=ClinicSettings),
    )
