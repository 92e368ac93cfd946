"""Every error becomes the problem-details body of SPEC §1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from litestar import Litestar, post
from litestar.params import FromPath, JSONBody

from tests.conftest import client_for
from topsmile.app import MAX_JSON_BODY
from topsmile.config import Settings
from topsmile.core.errors import Conflict, NotFound, RateLimited, handle_exception
from topsmile.core.middleware import EdgeMiddleware
from topsmile.core.schemas import Input, body


class Booking(Input):
    service_id: str
    duration_minutes: int


@post("/probe/echo", **body(Booking))
async def echo(data: JSONBody[Booking]) -> dict[str, object]:
    return {"serviceId": data.service_id, "durationMinutes": data.duration_minutes}


@post("/probe/raise/{kind:str}")
async def raise_error(kind: FromPath[str]) -> None:
    errors: dict[str, Exception] = {
        "conflict": Conflict("email already registered"),
        "not-found": NotFound("no such patient"),
        "rate": RateLimited(42),
        "crash": RuntimeError("SELECT secret FROM clinics WHERE password='hunter2'"),
    }
    raise errors[kind]


@pytest.fixture
async def probe() -> AsyncIterator[httpx.AsyncClient]:
    """A small app using the real mapper, edge middleware and body limit."""
    app = Litestar(
        route_handlers=[echo, raise_error],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=MAX_JSON_BODY,
        logging_config=None,
    )
    async with client_for(EdgeMiddleware(app, production=False)) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{code}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["requestId"] == response.headers["x-request-id"]
    return dict(body)


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/nope"), 404, "not-found")
    assert "errors" not in body


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/api/health/live"), 405, "method-not-allowed")


async def test_malformed_json_is_400(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/probe/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"]


async def test_unknown_field_is_400_naming_it(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/probe/echo", json={"serviceId": "s", "durationMinutes": 30, "extra": 1}
    )
    body = assert_problem(response, 400, "validation-error")
    assert any("extra" in str(error) for error in body["errors"])  # type: ignore[attr-defined]


async def test_string_for_number_is_400(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/probe/echo", json={"serviceId": "s", "durationMinutes": "30"})
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"][0]["field"] == "durationMinutes"  # type: ignore[index]


async def test_valid_body_passes_in_camel_case(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/probe/echo", json={"serviceId": "s", "durationMinutes": 30})
    assert response.status_code == 201
    assert response.json() == {"serviceId": "s", "durationMinutes": 30}


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("conflict", 409, "conflict"), ("not-found", 404, "not-found"), ("rate", 429, "rate-limited")],
)
async def test_domain_errors_map_to_their_status(
    probe: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    response = await probe.post(f"/probe/raise/{kind}")
    assert_problem(response, status, code)
    if kind == "rate":
        assert response.headers["retry-after"] == "42"


async def test_unexpected_error_is_500_without_internals(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/probe/raise/crash")
    body = assert_problem(response, 500, "internal")
    text = response.text
    for leak in ("SELECT", "hunter2", "Traceback", "RuntimeError", "password"):
        assert leak not in text
    assert body["detail"] == "Something went wrong on our side."


async def _deadlock(url: str) -> None:
    """Two transactions taking two locks in opposite orders: PostgreSQL settles it by rolling
    one back with deadlock_detected, which is raised here (the other then commits)."""
    both_hold_one = asyncio.Barrier(2)

    async def take(first: int, second: int) -> None:
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", first)
                await both_hold_one.wait()
                await connection.execute("SELECT pg_advisory_xact_lock($1)", second)
        finally:
            await connection.close()

    results = await asyncio.gather(take(9101, 9102), take(9102, 9101), return_exceptions=True)
    [refused] = [r for r in results if isinstance(r, BaseException)]
    raise refused


async def test_a_transaction_postgres_rolls_back_in_a_deadlock_is_a_409_not_a_500(
    settings: Settings,
) -> None:
    assert settings.database_url is not None
    url = settings.database_url

    @post("/probe/deadlock")
    async def deadlock() -> None:
        await _deadlock(url)

    app = Litestar(
        route_handlers=[deadlock],
        exception_handlers={Exception: handle_exception},
        logging_config=None,
    )
    async with client_for(EdgeMiddleware(app, production=False)) as client:
        response = await client.post("/probe/deadlock")
    body = assert_problem(response, 409, "conflict")
    assert "retry" in str(body["detail"])
    assert response.headers["retry-after"] == "1"


async def test_body_over_1_mib_is_413_before_reading_it_whole(probe: httpx.AsyncClient) -> None:
    sent = 0
    chunk = b" " * 65536

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB offered
            sent += len(chunk)
            yield chunk

    response = await probe.post(
        "/probe/echo", content=body(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large")
    assert sent <= MAX_JSON_BODY + len(chunk)


async def test_declared_length_over_limit_is_413_without_reading(probe: httpx.AsyncClient) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        sent += 1
        yield b"{}"

    response = await probe.post(
        "/probe/echo",
        content=body(),
        headers={"content-type": "application/json", "content-length": str(2 * MAX_JSON_BODY)},
    )
    assert_problem(response, 413, "payload-too-large")
    assert sent == 0


async def test_missing_field_is_named(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/probe/echo", json={"durationMinutes": 30})
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"] == [
        {"field": "serviceId", "message": "Object missing required field `serviceId`"}
    ]


async def test_nul_character_is_a_400_not_a_500(app: object) -> None:
    from tests.api.auth_fixtures import login, seed_clinic

    clinic = await seed_clinic(("admin",))
    async with client_for(app) as admin:
        await login(admin, clinic, "admin")
        response = await admin.get("/api/audit", params={"action": "a\x00b"})
    assert_problem(response, 400, "validation-error")
