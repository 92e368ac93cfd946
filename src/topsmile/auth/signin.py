"""The tokens a new or rotated session answers with (SPEC §3).

Only ids and the role go in: auth imports no domain package, so the caller keeps the user
and clinic rows it signed in with (`accounts.service.SignedIn`, `clinics.service.SignedUp`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from topsmile.auth import sessions, tokens
from topsmile.core.actor import Role
from topsmile.runtime import Runtime


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    refresh_token: str
    csrf_token: str


def session_tokens(
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    clinic_id: uuid.UUID,
    role: Role,
    issued: sessions.IssuedSession,
) -> SessionTokens:
    claims = tokens.AccessClaims(user_id, clinic_id, role, issued.session_id)
    secret = rt.settings.secret_key
    return SessionTokens(
        access_token=tokens.issue_access_token(secret, claims),
        refresh_token=issued.refresh_token,
        csrf_token=tokens.csrf_token(secret, issued.session_id),
    )
