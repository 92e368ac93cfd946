"""A signed-in result: the tokens a new or rotated session answers with (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topsmile.auth import sessions, tokens
from topsmile.runtime import Runtime


@dataclass(frozen=True)
class SignedIn:
    user: dict[str, Any]
    clinic: dict[str, Any]
    access_token: str
    refresh_token: str
    csrf_token: str


def session_tokens(
    rt: Runtime, user: dict[str, Any], clinic: dict[str, Any], issued: sessions.IssuedSession
) -> SignedIn:
    claims = tokens.AccessClaims(user["id"], clinic["id"], user["role"], issued.session_id)
    secret = rt.settings.secret_key
    return SignedIn(
        user=user,
        clinic=clinic,
        access_token=tokens.issue_access_token(secret, claims),
        refresh_token=issued.refresh_token,
        csrf_token=tokens.csrf_token(secret, issued.session_id),
    )
