"""Access tokens (JWT), refresh tokens and email tokens, and the keys that sign them."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from topsmile.core import clock

ISSUER = "topsmile"
AUDIENCE = "topsmile-api"
ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
SESSION_MAX_AGE = timedelta(days=30)
LEEWAY = timedelta(seconds=30)
VERIFY_EMAIL_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(minutes=30)


@functools.lru_cache(maxsize=64)
def derive_key(secret: str, purpose: str) -> bytes:
    """One secret, separate keys per purpose, so a leak of one use tells nothing of another."""
    return hmac.new(secret.encode(), f"topsmile:{purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    role: str
    session_id: uuid.UUID


class InvalidToken(Exception):
    pass


def issue_access_token(secret: str, claims: AccessClaims) -> str:
    now = clock.now()
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(claims.user_id),
        "cid": str(claims.clinic_id),
        "role": claims.role,
        "sid": str(claims.session_id),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + ACCESS_TTL).timestamp()),
    }
    return jwt.encode(payload, derive_key(secret, "jwt"), algorithm=ALGORITHM)


def read_access_token(secret: str, token: str) -> AccessClaims:
    """Verify signature (HS256 only: `none` and any other algorithm are refused) and claims."""
    try:
        claims, expires = _verified_access_token(secret, token)
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
    # PyJWT checks exp against the wall clock; our clock may be moved in tests. Checked on
    # every use, since the verification below is remembered.
    if expires + LEEWAY.total_seconds() < clock.now().timestamp():
        raise InvalidToken("expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified_access_token(secret: str, token: str) -> tuple[AccessClaims, float]:
    """The claims of a token whose signature and claims verified, remembered per exact token
    string: a client sends the same token for its 15 minutes, and verifying it (base64,
    HMAC, JSON, claim checks) is a large share of a small request. Failures raise and are
    not remembered. Whether the session is live is never cached here (sessions.py)."""
    payload: dict[str, Any] = jwt.decode(
        token,
        derive_key(secret, "jwt"),
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY,
        options={
            "require": ["exp", "iat", "sub", "cid", "sid", "role", "jti"],
            "verify_iat": False,
        },
    )
    claims = AccessClaims(
        user_id=uuid.UUID(payload["sub"]),
        clinic_id=uuid.UUID(payload["cid"]),
        role=str(payload["role"]),
        session_id=uuid.UUID(payload["sid"]),
    )
    return claims, float(payload["exp"])


@functools.lru_cache(maxsize=4096)  # asked on every signed-in request; a pure function
def csrf_token(secret: str, session_id: uuid.UUID) -> str:
    digest = hmac.new(derive_key(secret, "csrf"), session_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


EmailPurpose = Literal["verify_email", "password_reset"]
EMAIL_TOKEN_PAGES = {"verify_email": "verify-email", "password_reset": "reset-password"}


def email_token(secret: str, clinic_id: uuid.UUID, token_id: uuid.UUID, purpose: str) -> str:
    """The token of one `email_token` row, derived from the server secret and the row's id.

    Nothing readable needs storing: the row keeps only the token's hash, the outbox event
    only the row's id, and the email handler derives the token again when it writes the
    link. Clinic-prefixed like every scoped token (see `clinic_of_token`).
    """
    message = f"email-token|{clinic_id}|{token_id}|{purpose}".encode()
    digest = hmac.new(derive_key(secret, "email-token"), message, hashlib.sha256).digest()
    return f"{clinic_id.hex}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def email_link(
    app_url: str, secret: str, clinic_id: uuid.UUID, token_id: uuid.UUID, purpose: str
) -> str:
    """`<app_url>/verify-email?token=…` or `<app_url>/reset-password?token=…`."""
    token = email_token(secret, clinic_id, token_id, purpose)
    return f"{app_url.rstrip('/')}/{EMAIL_TOKEN_PAGES[purpose]}?token={token}"


def new_scoped_token(clinic_id: uuid.UUID) -> str:
    """An opaque token (256 random bits) prefixed with the clinic it belongs to, so the
    server can open that clinic's transaction before looking the token up."""
    return f"{clinic_id.hex}.{secrets.token_urlsafe(32)}"


def clinic_of_token(token: str) -> uuid.UUID:
    prefix, _, rest = token.partition(".")
    if not rest or len(token) > 200:
        raise InvalidToken("malformed token")
    try:
        return uuid.UUID(hex=prefix)
    except ValueError:
        raise InvalidToken("malformed token") from None


def expires(ttl: timedelta, cap: datetime | None = None) -> datetime:
    moment = clock.now() + ttl
    return min(moment, cap) if cap else moment
