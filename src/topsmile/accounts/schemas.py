"""Wire shapes of the auth endpoints (SPEC §3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from topsmile.clinics.schemas import ClinicView
from topsmile.core.schemas import Input, Output
from topsmile.core.validation import BirthDate, Email, Name, Password, Phone, Token
from topsmile.patients.schemas import PatientView
from topsmile.users.schemas import UserView

Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]


class Register(Input):
    clinic: Slug
    email: Email
    password: Password
    first_name: Name
    last_name: Name
    phone: Phone | None = None
    date_of_birth: BirthDate | None = None


class Login(Input):
    clinic: Slug
    email: Email
    password: Password


class Forgot(Input):
    clinic: Slug
    email: Email


class VerifyEmail(Input):
    token: Token


class ResetPassword(Input):
    token: Token
    password: Password


class ChangePassword(Input):
    current_password: Password
    new_password: Password


class Me(Output):
    user: UserView
    clinic: ClinicView


class Registered(Output):
    user: UserView
    patient: PatientView | None  # None: unattached until the email is verified (SPEC §3)


class SessionView(Output):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool
