"""Who is calling: the principal resolved from the session, and the guards on routes.

Guards run before the handler and before any lookup, so a role outside an endpoint's row
gets 403 whatever the id (SPEC §2).
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

# Re-exported: the roles belong to the actor, the guards below name them.
from topsmile.core.actor import ROLES as ROLES
from topsmile.core.actor import STAFF_ROLES as STAFF_ROLES
from topsmile.core.actor import Actor
from topsmile.core.actor import Role as Role
from topsmile.core.errors import AppError, Forbidden, Unauthenticated

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(AppError):
    status, code, title = 403, "csrf-failed", "CSRF token missing or invalid"


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in web session: the acting user plus what only a session has. Services take
    `principal.actor`; only the session functions of auth take the principal itself."""

    actor: Actor
    session_id: uuid.UUID
    csrf_token: str
    # What a handler may remember about this session's own user and clinic, for as long as
    # the session cache keeps the session (auth/session_cache.py); None when not trusted.
    memo: dict[str, object] | None = None

    def __post_init__(self) -> None:
        if self.actor.user_id is None or self.actor.role is None:
            raise ValueError("a session always belongs to a user with a role")

    @classmethod
    def of(
        cls,
        user_id: uuid.UUID,
        clinic_id: uuid.UUID,
        role: Role,
        session_id: uuid.UUID,
        csrf_token: str,
        ip: str | None = None,
        memo: dict[str, object] | None = None,
    ) -> Principal:
        return cls(Actor(clinic_id, user_id, role, ip), session_id, csrf_token, memo)

    # Read-only views of the actor, so guards and session code read `principal.role` etc.
    @property
    def user_id(self) -> uuid.UUID:
        user_id = self.actor.user_id
        assert user_id is not None  # checked in __post_init__
        return user_id

    @property
    def role(self) -> Role:
        role = self.actor.role
        assert role is not None  # checked in __post_init__
        return role

    @property
    def clinic_id(self) -> uuid.UUID:
        return self.actor.clinic_id

    @property
    def ip(self) -> str | None:
        return self.actor.ip

    @property
    def is_staff(self) -> bool:
        return self.actor.is_staff


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthenticated("Sign in to continue.")
    return principal


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Any valid session; unsafe methods also need the CSRF header bound to the session.

    Guards are `async def`: Litestar runs a plain `def` guard in a worker thread."""
    principal = principal_of(connection)
    if connection.scope.get("method") in _UNSAFE:
        sent = connection.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
            raise CsrfFailed("Send the csrf_token cookie's value in the X-CSRF-Token header.")


def allow(*roles: Role) -> Any:
    """A guard admitting only `roles` (after `signed_in`'s checks)."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        await signed_in(connection, handler)
        if principal_of(connection).role not in roles:
            raise Forbidden("Your role may not do this.")

    guard.__name__ = f"allow_{'_'.join(roles)}"
    return guard


STAFF = allow(*STAFF_ROLES)
ADMIN = allow("admin")
ADMIN_MANAGER = allow("admin", "manager")
FRONT_DESK = allow("admin", "manager", "receptionist")
