"""Events of signing in, with their payload types."""

from __future__ import annotations

import msgspec

from topsmile.events.catalogue import NoPayload, declare


class LoginFailed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: str


LOGIN_FAILED = declare("auth.login_failed", "user", LoginFailed)
LOGIN_SUCCEEDED = declare("auth.login_succeeded", "user", NoPayload)
REFRESH_REUSE_DETECTED = declare("auth.refresh_reuse_detected", "session", NoPayload)
