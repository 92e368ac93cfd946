"""Helpers for tests that run two app instances (two "processes") on one session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from tests.api.auth_fixtures import SeededClinic, login
from topsmile.auth import tokens
from topsmile.auth.session_cache import SessionCache
from topsmile.config import Settings
from topsmile.core.middleware import EdgeMiddleware


def cache_of(app: EdgeMiddleware) -> SessionCache:
    cache: SessionCache = app.app.state.runtime.denylist.cache
    return cache


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def claims_of(client: httpx.AsyncClient, settings: Settings) -> tokens.AccessClaims:
    return tokens.read_access_token(settings.secret_key, client.cookies["access_token"])


async def sign_in_on_both(
    on_a: httpx.AsyncClient, on_b: httpx.AsyncClient, clinic: SeededClinic, role: str
) -> None:
    """Sign in through A; B's client carries the same cookies (one browser, two processes)."""
    await login(on_a, clinic, role)
    for name, value in on_a.cookies.items():
        on_b.cookies.set(name, value)
