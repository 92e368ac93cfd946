"""SPEC §1 and §3 at the edge: malformed bodies are 400, non-JSON bodies 415, one cookie
parser, every X-Forwarded-For line, IPv6 clients counted by /64."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic, login
from tests.api.openapi_routes import Operation, body_operations, decoding_clients, send
from tests.conftest import client_for
from topsmile.app import create_app, lifespan
from topsmile.config import Rate, Settings
from topsmile.core.middleware import EdgeMiddleware

INVALID_UTF8 = b'{"clinic": "\xff\xfe", "email": "a@b.co", "password": "x"}'
DEEP = b'{"settings": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"


def assert_problem(response: httpx.Response, status: int, code: str, where: object) -> None:
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json", where
    assert response.json()["type"] == f"/problems/{code}", where


@pytest.fixture
async def reaching(
    client: httpx.AsyncClient, as_role: dict[str, httpx.AsyncClient]
) -> dict[Operation, httpx.AsyncClient]:
    return await decoding_clients(await body_operations(client), as_role)


# --- 1. Malformed bodies are 400 on every body route -------------------------------------


MALFORMED = {
    "invalid UTF-8": INVALID_UTF8,
    "invalid UTF-8 in a string": b'"\xc3\x28"',
    "5000 deep": DEEP,
    "33 deep": b"[" * 33 + b"]" * 33,
    "binary": b"\x00\x01",
}


async def test_every_body_route_answers_400_to_a_malformed_body(
    reaching: dict[Operation, httpx.AsyncClient],
) -> None:
    for op, client in reaching.items():
        for label, content in MALFORMED.items():
            response = await send(client, op, content)
            assert_problem(response, 400, "validation-error", f"{op}, {label}")


async def test_the_nesting_cap_is_32_levels(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin = as_role["admin"]
    op = Operation("PATCH", "/api/clinic", "updateClinic", True)

    def nested(depth: int) -> bytes:  # `settings` is level 1, its value's arrays the rest
        return b'{"settings": {"x": ' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"

    at_cap = await send(admin, op, nested(32))
    assert at_cap.json().get("detail", "") != "The body nests deeper than 32 levels."
    over = await send(admin, op, nested(33))
    assert_problem(over, 400, "validation-error", op)
    assert over.json()["detail"] == "The body nests deeper than 32 levels."
    # Brackets inside strings are text, not nesting.
    text = b'{"name": "' + b"[{" * 40 + b'\\" [[["}'
    assert (await send(admin, op, text)).json().get("detail") != over.json()["detail"]


# --- 2. A body must be sent as application/json ------------------------------------------


NOT_JSON = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonp",
    "application/json; charset=iso-8859-1",
    None,
]


async def test_every_body_route_answers_415_to_another_content_type(
    reaching: dict[Operation, httpx.AsyncClient],
) -> None:
    for op, client in reaching.items():
        for content_type in NOT_JSON:
            response = await send(client, op, b"{}", content_type)
            assert_problem(response, 415, "unsupported-media-type", f"{op}, {content_type}")


async def test_a_text_plain_form_cannot_sign_a_browser_in(
    client: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    body = msgspec.json.encode(
        {"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD}
    )
    response = await client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported-media-type", "login")
    assert "access_token" not in response.cookies
    signed_in = await client.post(
        "/api/auth/login",
        content=body,
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
    )
    assert signed_in.status_code == 200, signed_in.text


async def test_an_empty_body_needs_no_content_type(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin = as_role["admin"]
    refreshed = await admin.post("/api/auth/refresh", headers={"Content-Type": "text/plain"})
    assert refreshed.status_code == 200, refreshed.text
    assert (await admin.post("/api/auth/logout")).status_code == 204


# --- 5. One cookie parser -----------------------------------------------------------------


async def test_a_malformed_unrelated_cookie_does_not_sign_the_user_out(
    app: EdgeMiddleware, clinic: SeededClinic
) -> None:
    async with client_for(app) as browser:
        await login(browser, clinic, "admin")
        token = browser.cookies["access_token"]
    async with client_for(app) as other:
        response = await other.get(
            "/api/auth/me", headers={"Cookie": f'prefs={{"theme":"dark"}}; access_token={token}'}
        )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == clinic.email("admin")


# --- 4. Client IP behind a trusted proxy ----------------------------------------------------


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a trusted proxy on 127.0.0.0/8 (the test transport's peer), with a
    per-IP login limit of 2 an hour."""
    proxied = msgspec.structs.replace(
        settings, trusted_proxies=("127.0.0.0/8",), rate_login_per_ip=Rate(2, 3600)
    )
    app = create_app(proxied, run_relay=False)
    async with lifespan(app.app), client_for(app) as client:
        yield client


async def test_every_forwarded_for_line_is_read(
    behind_proxy: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    # The client forges the first line; our proxy appends the address it saw as a second.
    response = await behind_proxy.post(
        "/api/auth/login",
        json={"clinic": clinic.slug, "email": clinic.email("admin"), "password": PASSWORD},
        headers=[("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")],
    )
    assert response.status_code == 200, response.text
    sessions = (await behind_proxy.get("/api/auth/sessions")).json()
    assert [s["ip"] for s in sessions] == ["203.0.113.7"]


async def test_ipv6_clients_are_counted_by_their_64(behind_proxy: httpx.AsyncClient) -> None:
    a, b = uuid.uuid4().hex[:4], uuid.uuid4().hex[:4]
    wrong = {"clinic": "no-such-clinic", "email": f"{a}{b}@b.co", "password": "wrong-password"}

    async def attempt(address: str) -> int:
        response = await behind_proxy.post(
            "/api/auth/login", json=wrong, headers={"X-Forwarded-For": address}
        )
        return response.status_code

    one_network = [f"2001:db8:{a}:{b}::1", f"2001:db8:{a}:{b}::2", f"2001:db8:{a}:{b}:ffff::9"]
    assert [await attempt(address) for address in one_network] == [401, 401, 429]
    next_network = f"2001:db8:{a}:{int(b, 16) ^ 1:x}::1"
    assert await attempt(next_network) == 401  # another /64 has its own count
