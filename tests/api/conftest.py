"""API-test fixtures: a clinic with one user per role, and a signed-in client for each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.api.auth_fixtures import SeededClinic, login, seed_clinic
from tests.api.payment_fixtures import pay_app, payers, stripe_api  # noqa: F401 - fixtures
from tests.conftest import client_for
from topsmile.core.middleware import EdgeMiddleware

ROLES = ("admin", "manager", "receptionist", "provider", "patient")


@pytest.fixture
async def clinic(app: EdgeMiddleware) -> SeededClinic:
    return await seed_clinic(ROLES)


@pytest.fixture
async def as_role(
    app: EdgeMiddleware, clinic: SeededClinic
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = {role: await stack.enter_async_context(client_for(app)) for role in ROLES}
        for role, client in clients.items():
            await login(client, clinic, role)
        yield clients


@pytest.fixture
def staff(as_role: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    return as_role["receptionist"]
