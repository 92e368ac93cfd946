"""Sessions and throttles hold across processes (issue 13; SPEC §3, §4): two `topsmile serve`
processes and a worker (tests/concurrency/deployment.py). A logout, a role change or a
deactivation made through one server is seen by the very next request on either server, and
every limit is counted once for the whole deployment, not once per process. Bookings,
idempotency and event delivery across the same deployment: test_cross_process_delivery.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic, csrf, seed_clinic
from tests.concurrency.deployment import (
    API_PER_USER,
    LOGIN_PER_IP,
    MAX_FAILURES,
    Deployment,
    fresh_ip,
    problem_type,
)

pytestmark = pytest.mark.usefixtures("app")


async def _as_cookies(base_url: str, path: str, **cookies: str) -> httpx.Response:
    """One request carrying exactly these cookies (a token kept by whoever held it)."""
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    headers = {"Cookie": header, "X-Forwarded-For": fresh_ip()}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as raw:
        if path == "/api/auth/refresh":
            return await raw.post(path)
        return await raw.get(path)


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert problem_type(response) == f"/problems/{code}"


async def test_a_logout_through_one_server_is_refused_at_once_on_both(
    deployment: Deployment,
) -> None:
    a, b = deployment.servers
    clinic = await seed_clinic(("receptionist",))
    async with AsyncExitStack() as stack:
        on_a, on_b = await deployment.signed_in_on_both(stack, clinic, "receptionist")
        # Both processes have just checked (and cached, with its /me memo) the live session.
        for client in (on_a, on_b):
            assert (await client.get("/api/auth/me")).status_code == 200
        access, refresh = on_a.cookies["access_token"], on_a.cookies["refresh_token"]

        assert (await on_b.post("/api/auth/logout")).status_code == 204
        # No wait: the next request anywhere is refused, the process that did not log out first.
        for server in (a, b):
            _refused(
                await _as_cookies(server, "/api/auth/me", access_token=access),
                401,
                "unauthenticated",
            )
        for server in (a, b):
            _refused(
                await _as_cookies(server, "/api/auth/refresh", refresh_token=refresh),
                401,
                "unauthenticated",
            )
        _refused(await on_a.get("/api/auth/me"), 401, "unauthenticated")


async def test_a_role_change_and_a_deactivation_on_one_server_bind_the_next_call_on_both(
    deployment: Deployment,
) -> None:
    b = deployment.servers[1]
    clinic = await seed_clinic(("admin", "receptionist"))
    desk_id = clinic.users["receptionist"]
    async with AsyncExitStack() as stack:
        admin = await deployment.signed_in(stack, b, clinic, "admin")
        desk_a, desk_b = await deployment.signed_in_on_both(stack, clinic, "receptionist")
        for desk in (desk_a, desk_b):
            me = await desk.get("/api/auth/me")
            assert me.json()["user"]["role"] == "receptionist"
            assert (await desk.get("/api/notifications")).status_code == 200

        demoted = await admin.patch(
            f"/api/users/{desk_id}", json={"role": "provider"}, headers=csrf(admin)
        )
        assert demoted.status_code == 200, demoted.text
        # The notifications log is for receptionists, not providers (SPEC §2).
        for desk in (desk_a, desk_b):
            assert (await desk.get("/api/auth/me")).json()["user"]["role"] == "provider"
            _refused(await desk.get("/api/notifications"), 403, "forbidden")

        gone = await admin.patch(
            f"/api/users/{desk_id}", json={"active": False}, headers=csrf(admin)
        )
        assert gone.status_code == 200, gone.text
        for desk in (desk_a, desk_b):
            _refused(await desk.get("/api/auth/me"), 401, "unauthenticated")


def _login_body(clinic: SeededClinic, role: str, password: str = PASSWORD) -> dict[str, str]:
    return {"clinic": clinic.slug, "email": clinic.email(role), "password": password}


def _retry_after(response: httpx.Response) -> None:
    _refused(response, 429, "rate-limited")
    assert int(response.headers["Retry-After"]) > 0


async def test_the_login_limit_per_address_counts_attempts_on_both_servers(
    deployment: Deployment,
) -> None:
    a, b = deployment.servers
    clinic = await seed_clinic(("admin",))
    address = fresh_ip()
    async with AsyncExitStack() as stack:
        clients = [await deployment.client(stack, server, address) for server in (a, b)]
        for attempt in range(LOGIN_PER_IP):  # A, B, A, B: half of the limit on each process
            answer = await clients[attempt % 2].post(
                "/api/auth/login", json=_login_body(clinic, "admin")
            )
            assert answer.status_code == 200, answer.text
        for client in clients:  # the next attempt is over the limit wherever it lands
            _retry_after(await client.post("/api/auth/login", json=_login_body(clinic, "admin")))
        # Another address is not affected: the count is per client address.
        other = await deployment.client(stack, a)
        assert (
            await other.post("/api/auth/login", json=_login_body(clinic, "admin"))
        ).status_code == 200


async def test_wrong_passwords_lock_the_account_whichever_server_they_reach(
    deployment: Deployment,
) -> None:
    a, b = deployment.servers
    clinic = await seed_clinic(("admin", "receptionist", "provider"))
    async with AsyncExitStack() as stack:
        # Every attempt from a new address, so only the per-account count can refuse them.
        async def attempt(server: str, role: str, password: str) -> httpx.Response:
            client = await deployment.client(stack, server)
            return await client.post("/api/auth/login", json=_login_body(clinic, role, password))

        for n in range(MAX_FAILURES):
            wrong = await attempt((a, b)[n % 2], "receptionist", "Wrong-Password-1")
            _refused(wrong, 401, "unauthenticated")
        for server in (a, b):  # locked now, even with the right password, on both processes
            _retry_after(await attempt(server, "receptionist", PASSWORD))
        assert (await attempt(b, "admin", PASSWORD)).status_code == 200  # another account

        # Concurrent wrong passwords spread over both processes: at most the limit get a 401.
        burst = await asyncio.gather(
            *(attempt((a, b)[n % 2], "provider", "Wrong-Password-2") for n in range(8))
        )
        statuses = Counter(r.status_code for r in burst)
        assert set(statuses) == {401, 429}, [r.text for r in burst]
        assert statuses[401] <= MAX_FAILURES
        for answer in burst:
            if answer.status_code == 429:
                _retry_after(answer)


async def test_the_per_user_api_limit_counts_calls_on_both_servers(
    deployment: Deployment,
) -> None:
    clinic = await seed_clinic(("receptionist",))
    async with AsyncExitStack() as stack:
        on_a, on_b = await deployment.signed_in_on_both(stack, clinic, "receptionist")
        for call in range(API_PER_USER):  # alternating: half of the limit on each process
            answer = await (on_a, on_b)[call % 2].get("/api/auth/me")
            assert answer.status_code == 200, (call, answer.text)
        for client in (on_a, on_b):
            _retry_after(await client.get("/api/auth/me"))
