"""A small production-shaped deployment for the cross-process tests (issue 13): two
`topsmile serve` processes and one `topsmile worker`, all on the test session's PostgreSQL and
Redis, every relay sending email to one local SMTP server (docs/DEPLOYMENT.md "Processes").

The servers trust 127.0.0.0/8 as their proxy, so each test client names its own address in
`X-Forwarded-For`: the small per-IP login limit below then counts exactly one test's attempts,
whichever process they reach."""

from __future__ import annotations

import itertools
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx

from tests.api.auth_fixtures import SeededClinic, login
from tests.support.smtp import LocalSmtp

LOGIN_PER_IP = 4  # login attempts per client address per 15 minutes
MAX_FAILURES = 3  # wrong passwords per (clinic, email) before the account is refused
API_PER_USER = 40  # authenticated calls per user per minute

_addresses = itertools.count(1)


def fresh_ip() -> str:
    """A client address no other request of the test session uses (198.18.0.0/15)."""
    n = next(_addresses)
    return f"198.18.{n // 256}.{n % 256}"


@dataclass(frozen=True)
class Deployment:
    servers: tuple[str, str]  # base URLs of serve A and serve B
    smtp: LocalSmtp

    async def client(
        self, stack: AsyncExitStack, base_url: str, ip: str | None = None
    ) -> httpx.AsyncClient:
        """A client of one server, from its own address unless `ip` is given."""
        headers = {"X-Forwarded-For": ip or fresh_ip()}
        return await stack.enter_async_context(
            httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60)
        )

    async def signed_in(
        self, stack: AsyncExitStack, base_url: str, clinic: SeededClinic, role: str
    ) -> httpx.AsyncClient:
        client = await self.client(stack, base_url)
        await login(client, clinic, role)
        return client

    async def signed_in_on_both(
        self, stack: AsyncExitStack, clinic: SeededClinic, role: str
    ) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        """One browser signed in through the first server, and the same browser (a copy of
        its cookies, its address) talking to the second."""
        on_a = await self.signed_in(stack, self.servers[0], clinic, role)
        on_b = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=self.servers[1], headers=on_a.headers, cookies=on_a.cookies, timeout=60
            )
        )
        return on_a, on_b


def problem_type(response: httpx.Response) -> str:
    return str(response.json()["type"])
