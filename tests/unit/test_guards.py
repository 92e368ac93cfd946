"""Each guard on its own: who passes, who gets 401, 403 or csrf-failed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.connection import ASGIConnection

from topsmile.auth.principal import (
    ADMIN,
    ADMIN_MANAGER,
    FRONT_DESK,
    ROLES,
    STAFF,
    CsrfFailed,
    Principal,
    Role,
    signed_in,
)
from topsmile.core.errors import Forbidden, Unauthenticated


def connection(
    role: Role | None, method: str = "GET", csrf: str | None = "good"
) -> ASGIConnection[Any, Any, Any, Any]:
    headers = [(b"x-csrf-token", csrf.encode())] if csrf is not None else []
    user = None
    if role is not None:
        user = Principal.of(uuid.uuid4(), uuid.uuid4(), role, uuid.uuid4(), csrf_token="good")
    scope: Any = {
        "type": "http",
        "method": method,
        "headers": headers,
        "user": user,
        "path": "/",
        "query_string": b"",
    }
    return ASGIConnection(scope)


async def test_signed_in_refuses_anonymous() -> None:
    with pytest.raises(Unauthenticated):
        await signed_in(connection(None), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_unsafe_methods_need_the_sessions_csrf_token(method: str) -> None:
    await signed_in(connection("patient", method), None)  # type: ignore[arg-type]
    for bad in (None, "", "bad", "good "):
        with pytest.raises(CsrfFailed):
            await signed_in(connection("patient", method, csrf=bad), None)  # type: ignore[arg-type]


async def test_safe_methods_need_no_csrf() -> None:
    await signed_in(connection("patient", "GET", csrf=None), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("guard", "allowed"),
    [
        (ADMIN, {"admin"}),
        (ADMIN_MANAGER, {"admin", "manager"}),
        (FRONT_DESK, {"admin", "manager", "receptionist"}),
        (STAFF, {"admin", "manager", "receptionist", "provider"}),
    ],
)
async def test_role_guards_follow_the_matrix(guard: Any, allowed: set[str]) -> None:
    for role in ROLES:
        if role in allowed:
            await guard(connection(role), None)
        else:
            with pytest.raises(Forbidden):
                await guard(connection(role), None)
    with pytest.raises(Unauthenticated):
        await guard(connection(None), None)
