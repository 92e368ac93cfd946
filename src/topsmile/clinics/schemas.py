"""Wire shapes of clinics and staff users (SPEC §3, §4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from topsmile.auth.principal import Role
from topsmile.core.schemas import Input, Output
from topsmile.core.validation import Currency, Email, Name, Password, Timezone

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


class UserView(Output):
    id: uuid.UUID
    clinic_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    email_verified: bool
    active: bool
    created_at: datetime


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


class StaffUserCreate(Input):
    email: Email
    password: Password
    first_name: Name
    last_name: Name
    role: Role


class StaffUserPatch(Input):
    role: Role | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET


class SignupResult(Output):
    clinic: ClinicView
    user: UserView


class UserPage(Output):
    items: list[UserView]
    total: int
    page: int
    page_size: int


def clinic_view(row: dict[str, Any]) -> ClinicView:
    return ClinicView(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        timezone=row["timezone"],
        currency=row["currency"],
        settings=msgspec.convert(_json(row["settings"]), ClinicSettings),
    )


def user_view(row: dict[str, Any]) -> UserView:
    return UserView(
        id=row["id"],
        clinic_id=row["clinic_id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=row["role"],
        email_verified=row["email_verified"],
        active=row["active"],
        created_at=row["created_at"],
    )


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value
