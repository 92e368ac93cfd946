"""A real browser against a real server (issue 13): headless Chromium (Debian's package) runs a
tiny static page (tests/e2e/browser/) from a second origin listed in TOPSMILE_CORS_ORIGINS
and signs up, browses, books, cancels, survives an expired access token and signs out, the
way the patient web app does (SPEC §3, §6). Pages on origins not listed can do none of it.

The page is on 127.0.0.1 at another port than the API: another origin but the same site, as
a web app on the API's host name is, so the SameSite=Strict refresh cookie flows as SPEC
intends. The access token lives 15 minutes (SPEC §3; no setting shortens it), so the expiry
is made real by handing the browser an expired token of the same session, signed with the
server's key, in place of its access cookie: the page sees 401, refreshes and carries on.
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.api.appointment_fixtures import APPOINTMENTS, open_all_day
from tests.api.auth_fixtures import PASSWORD, SeededClinic, login, seed_clinic
from tests.api.test_availability import local_today
from tests.support.loopback import LoopbackServer
from tests.support.serve import serve_env, serving
from topsmile.auth.tokens import ACCESS_TTL, ALGORITHM, AUDIENCE, ISSUER, derive_key
from topsmile.config import Settings

pytestmark = [pytest.mark.usefixtures("app"), pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
PAGE_DIR = Path(__file__).parent / "browser"
SECRET = "browser-e2e-secret-key-0123456789abcdef-0123456789"
# Without the background-networking flags Chromium keeps calling Google, refused here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticPage(LoopbackServer):
    """tests/e2e/browser/ served as static files from its own loopback port (origin)."""

    def _server(self) -> ThreadingHTTPServer:
        handler = functools.partial(_QuietFiles, directory=str(PAGE_DIR))
        return ThreadingHTTPServer(("127.0.0.1", 0), handler)


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium; never a browser downloaded at test time."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "`apt-get install -y --no-install-recommends chromium` (dev.py test does it)"
        )
    return str(CHROMIUM)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Playwright gives the browser a fresh temporary --user-data-dir of its own.
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def page_server() -> Iterator[StaticPage]:
    with StaticPage() as server:
        yield server


@pytest.fixture
def unlisted_server() -> Iterator[StaticPage]:
    with StaticPage() as server:
        yield server


@pytest.fixture
async def clinic() -> SeededClinic:
    """Seeded before the server starts: `serve` on a database with no clinic seeds the demo."""
    return await seed_clinic(("admin",))


@pytest.fixture
async def api(
    settings: Settings, tmp_path: Path, clinic: SeededClinic, page_server: StaticPage
) -> AsyncIterator[str]:
    env = serve_env(
        settings, TOPSMILE_CORS_ORIGINS=page_server.base_url, TOPSMILE_SECRET_KEY=SECRET
    )
    async with serving(env, tmp_path / "serve.log") as base_url:
        yield base_url


async def _open(context: BrowserContext, origin: str, api: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{origin}/index.html?api={api}")
    await page.wait_for_function("() => window.topsmile !== undefined")
    return page


async def _call(page: Page, method: str, path: str, body: Any = None, **options: Any) -> Any:
    return await page.evaluate(
        "([m, p, b, o]) => topsmile.call(m, p, b ?? undefined, o)", [method, path, body, options]
    )


async def _attempt(page: Page, method: str, path: str, body: Any, simple: bool) -> Any:
    return await page.evaluate(
        "([m, p, b, s]) => topsmile.attempt(m, p, b ?? undefined, s)", [method, path, body, simple]
    )


async def _cookies(context: BrowserContext, api: str) -> dict[str, dict[str, Any]]:
    """Every cookie the browser holds for the API's host, whatever its path."""
    host = httpx.URL(api).host
    return {c["name"]: dict(c) for c in await context.cookies() if c["domain"] == host}


def _expired_copy(token: str) -> str:
    """The same session's access token, expired two minutes ago, signed with the server's key."""
    key = derive_key(SECRET, "jwt")
    claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
    issued = int(time.time() - (ACCESS_TTL + timedelta(minutes=2)).total_seconds())
    claims |= {"iat": issued, "exp": issued + int(ACCESS_TTL.total_seconds())}
    claims["jti"] = uuid.uuid4().hex
    return jwt.encode(claims, key, algorithm=ALGORITHM)


async def _open_clinic(api: str, clinic: SeededClinic) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=api, timeout=30) as admin:
        await login(admin, clinic, "admin")
        return await open_all_day(admin)


async def test_a_listed_origin_signs_up_books_cancels_refreshes_and_signs_out(
    browser: Browser,
    api: str,
    page_server: StaticPage,
    unlisted_server: StaticPage,
    clinic: SeededClinic,
) -> None:
    service_id, provider_id = await _open_clinic(api, clinic)
    context = await browser.new_context()
    page = await _open(context, page_server.base_url, api)
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    account = {"clinic": clinic.slug, "email": email, "password": PASSWORD}

    # Register, then sign in again: the cookies land on the API's host, the tokens HttpOnly.
    registered = await _call(
        page, "POST", "/api/auth/register", {**account, "firstName": "Bea", "lastName": "Browser"}
    )
    assert registered["status"] == 201, registered
    assert registered["body"]["user"]["role"] == "patient"
    assert (await _call(page, "POST", "/api/auth/logout"))["status"] == 204
    signed_in = await _call(page, "POST", "/api/auth/login", account)
    assert signed_in["status"] == 200, signed_in
    assert signed_in["body"]["user"]["email"] == email
    # The app may read the headers SPEC promises it (the id to quote to support).
    assert signed_in["requestId"], signed_in
    jar = await _cookies(context, api)
    access, refresh, csrf = jar["access_token"], jar["refresh_token"], jar["csrf_token"]
    assert (access["path"], access["httpOnly"], access["sameSite"]) == ("/", True, "Lax")
    assert (refresh["path"], refresh["httpOnly"], refresh["sameSite"]) == (
        "/api/auth",
        True,
        "Strict",
    )
    assert (csrf["path"], csrf["httpOnly"]) == ("/", False)
    readable = await page.evaluate("() => topsmile.cookies()")
    assert "csrf_token=" in readable
    assert "access_token" not in readable
    assert "refresh_token" not in readable

    # Public and patient availability show the same open slots.
    day = (local_today() + timedelta(days=3)).isoformat()
    query = f"serviceId={service_id}&providerId={provider_id}&from={day}&to={day}"
    public = await _call(page, "GET", f"/api/public/clinics/{clinic.slug}/availability?{query}")
    assert public["status"] == 200, public
    mine = await _call(page, "GET", f"/api/scheduling/availability?{query}")
    assert mine["status"] == 200, mine
    assert mine["body"]["slots"] == public["body"]["slots"]
    start = mine["body"]["slots"][40]["start"]

    booking = {"serviceId": service_id, "providerId": provider_id, "start": start}
    booked = await _call(page, "POST", APPOINTMENTS, booking)
    assert booked["status"] == 201, booked
    appointment = booked["body"]["id"]

    await _unlisted_origins_can_do_nothing(context, unlisted_server, api, clinic, appointment)

    # Cancel: refused without the CSRF header, done with it.
    cancel = f"{APPOINTMENTS}/{appointment}/cancel"
    refused = await _call(page, "POST", cancel, {"reason": "no header"}, csrf=False)
    assert refused["status"] == 403, refused
    assert refused["body"]["type"] == "/problems/csrf-failed"
    cancelled = await _call(page, "POST", cancel, {"reason": "changed plans"})
    assert cancelled["status"] == 200, cancelled
    assert cancelled["body"]["status"] == "cancelled"

    # The access token expires: the page's call answers 401, the refresh (Strict cookie, on
    # /api/auth only) succeeds from this same-site origin, and the call goes through.
    before = await _cookies(context, api)
    expired = _expired_copy(before["access_token"]["value"])
    await context.add_cookies([{**before["access_token"], "value": expired}])
    after_expiry = await _call(page, "GET", f"{APPOINTMENTS}/{appointment}")
    assert after_expiry["refresh"] == 200, after_expiry
    assert after_expiry["status"] == 200, after_expiry
    renewed = await _cookies(context, api)
    assert renewed["access_token"]["value"] not in (expired, before["access_token"]["value"])
    assert renewed["refresh_token"]["value"] != before["refresh_token"]["value"]

    # Sign out: the cookies go, and every call (refresh included) is 401.
    assert (await _call(page, "POST", "/api/auth/logout"))["status"] == 204
    assert not {"access_token", "refresh_token"} & set(await _cookies(context, api))
    me = await _call(page, "GET", "/api/auth/me")
    assert me["status"] == 401, me
    listed = await _call(page, "GET", APPOINTMENTS)
    assert (listed["status"], listed["refresh"]) == (401, 401), listed
    await context.close()


async def _unlisted_origins_can_do_nothing(
    context: BrowserContext,
    unlisted: StaticPage,
    api: str,
    clinic: SeededClinic,
    appointment: str,
) -> None:
    """Pages on origins not in TOPSMILE_CORS_ORIGINS, in the browser of a signed-in patient:
    one on the same site (127.0.0.1, another port; the cookies are sent) and one cross-site
    (localhost). Every call fails in the browser, and nothing changes on the server."""
    jar = await _cookies(context, api)
    intruder_email = f"intruder-{uuid.uuid4().hex[:8]}@example.com"
    attempts: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/auth/register",
            {
                "clinic": clinic.slug,
                "email": intruder_email,
                "password": PASSWORD,
                "firstName": "I",
                "lastName": "X",
            },
        ),
        (
            "POST",
            "/api/auth/login",
            {"clinic": clinic.slug, "email": intruder_email, "password": PASSWORD},
        ),
        ("GET", f"/api/public/clinics/{clinic.slug}", None),
        ("GET", "/api/auth/me", None),
        ("GET", f"{APPOINTMENTS}/{appointment}", None),
        ("POST", f"{APPOINTMENTS}/{appointment}/cancel", {"reason": "not me"}),
        ("POST", f"{APPOINTMENTS}/{appointment}/cancel", None),
        ("POST", "/api/auth/refresh", None),
        ("POST", "/api/auth/logout", None),
    ]
    for origin in (unlisted.base_url, unlisted.base_url.replace("127.0.0.1", "localhost")):
        page = await _open(context, origin, api)
        for (method, path, body), simple in itertools.product(attempts, (False, True)):
            result = await _attempt(page, method, path, body, simple)
            assert "blocked" in result, (origin, method, path, simple, result)
        await page.close()

    # Nothing changed: the same cookies, the session alive, the appointment still booked,
    # no account made.
    assert await _cookies(context, api) == jar
    async with httpx.AsyncClient(base_url=api, timeout=30) as check:
        check.cookies.set("access_token", jar["access_token"]["value"])
        me = await check.get("/api/auth/me")
        assert me.status_code == 200, me.text
        listed = await check.get(APPOINTMENTS)
        assert [a["status"] for a in listed.json()["items"]] == ["scheduled"]
        intruder = await check.post(
            "/api/auth/login",
            json={"clinic": clinic.slug, "email": intruder_email, "password": PASSWORD},
        )
        assert intruder.status_code == 401, intruder.text
