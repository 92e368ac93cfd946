"""Wire shapes of users (SPEC §3, §4): the user view and the staff-user inputs."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from topsmile.auth.principal import Role
from topsmile.core.schemas import Input, Output
from topsmile.core.validation import Email, Name, Password
from topsmile.users.tables import UserRow


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


def user_view(row: UserRow) -> UserView:
    return UserView(
        id=row.id,
        clinic_id=row.clinic_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        role=row.role,
        email_verified=row.email_verified,
        active=row.active,
        created_at=row.created_at,
    )
