"""Events of sign-in and of user accounts, with their payload types.

The `user.*` events live here until users get a package of their own.
"""

from __future__ import annotations

import msgspec

from topsmile.core.actor import Role
from topsmile.events.catalogue import Changed, NoPayload, declare
from topsmile.events.types import AccountToken


class LoginFailed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: str


class UserCreated(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role


class RoleChanged(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: Role = msgspec.field(name="from")
    after: Role = msgspec.field(name="to")


LOGIN_FAILED = declare("auth.login_failed", "user", LoginFailed)
LOGIN_SUCCEEDED = declare("auth.login_succeeded", "user", NoPayload)
REFRESH_REUSE_DETECTED = declare("auth.refresh_reuse_detected", "session", NoPayload)

USER_REGISTERED = declare("user.registered", "user", AccountToken)
USER_PASSWORD_RESET_REQUESTED = declare("user.password_reset_requested", "user", AccountToken)
USER_PASSWORD_CHANGED = declare("user.password_changed", "user", NoPayload)
USER_CREATED = declare("user.created", "user", UserCreated)
USER_ROLE_CHANGED = declare("user.role_changed", "user", RoleChanged)
USER_ACTIVATED = declare("user.activated", "user", NoPayload)
USER_DEACTIVATED = declare("user.deactivated", "user", NoPayload)
USER_UPDATED = declare("user.updated", "user", Changed)
