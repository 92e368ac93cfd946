"""Events of user accounts, with their payload types."""

from __future__ import annotations

import msgspec

from topsmile.core.actor import Role
from topsmile.events.catalogue import Changed, NoPayload, declare
from topsmile.events.types import AccountToken


class UserCreated(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role


class RoleChanged(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: Role = msgspec.field(name="from")
    after: Role = msgspec.field(name="to")


USER_REGISTERED = declare("user.registered", "user", AccountToken)
USER_PASSWORD_RESET_REQUESTED = declare("user.password_reset_requested", "user", AccountToken)
USER_PASSWORD_CHANGED = declare("user.password_changed", "user", NoPayload)
USER_CREATED = declare("user.created", "user", UserCreated)
USER_ROLE_CHANGED = declare("user.role_changed", "user", RoleChanged)
USER_ACTIVATED = declare("user.activated", "user", NoPayload)
USER_DEACTIVATED = declare("user.deactivated", "user", NoPayload)
USER_UPDATED = declare("user.updated", "user", Changed)
