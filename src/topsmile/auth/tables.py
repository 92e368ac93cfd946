"""The session and token tables as the code reads them (core/rows.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from topsmile.core.rows import Row


class SessionRow(Row, frozen=True):
    __table__ = "auth_session"

    id: uuid.UUID
    clinic_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    user_agent: str | None
    ip: str | None


class RefreshTokenRow(Row, frozen=True):
    __table__ = "refresh_token"

    token_hash: str
    clinic_id: uuid.UUID
    session_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None


class EmailTokenRow(Row, frozen=True):
    __table__ = "email_token"

    token_hash: str
    clinic_id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    id: uuid.UUID
