"""The cross-process tests' deployment (tests/concurrency/deployment.py), one per module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from tests.api.auth_fixtures import seed_clinic
from tests.concurrency.deployment import API_PER_USER, LOGIN_PER_IP, MAX_FAILURES, Deployment
from tests.support.serve import serve_env, serving, working
from tests.support.smtp import LocalSmtp
from topsmile.config import Settings
from topsmile.core.middleware import EdgeMiddleware


@pytest.fixture(scope="module")
async def deployment(
    app: EdgeMiddleware, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    # A clinic exists before the first serve starts: `serve` seeds the demo on an empty database.
    await seed_clinic(("admin",))
    logs = tmp_path_factory.mktemp("deployment")
    async with AsyncExitStack() as stack:
        smtp = await stack.enter_async_context(LocalSmtp())
        env = serve_env(
            settings,
            **smtp.env(),
            TOPSMILE_TRUSTED_PROXIES="127.0.0.0/8",
            TOPSMILE_RATE_LOGIN_PER_IP=f"{LOGIN_PER_IP}/15m",
            TOPSMILE_LOGIN_MAX_FAILURES=str(MAX_FAILURES),
            TOPSMILE_RATE_API_PER_USER=f"{API_PER_USER}/1m",
        )
        # Started side by side: each start (migrations check, imports) takes seconds.
        a, b, _ = await asyncio.gather(
            stack.enter_async_context(serving(env, logs / "serve-a.log")),
            stack.enter_async_context(serving(env, logs / "serve-b.log")),
            stack.enter_async_context(working(env, logs / "worker.log")),
        )
        yield Deployment(servers=(a, b), smtp=smtp)
