"""The `app_user` table as the code reads it (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.actor import Role
from topsmile.core.rows import Row


class UserRow(Row, frozen=True):
    __table__ = "app_user"

    id: uuid.UUID
    clinic_id: uuid.UUID
    email: str
    password_hash: str
    first_name: str
    last_name: str
    role: Role
    email_verified: bool
    active: bool
    created_at: datetime
    updated_at: datetime
