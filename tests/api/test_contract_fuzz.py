"""Contract fuzzing (issue 13): schemathesis against the app's own /schema/openapi.json.

Every operation of the document gets schemathesis-generated requests, valid ones and
invalid ones, from each role signed in (with its CSRF header) and from an anonymous client.
Every response must be no 5xx, have a status code the document lists for the operation, and
have the content type and body schema the document gives for that status.

The requests go in-process (ASGI) through the test session's app, on real PostgreSQL and
Redis. schemathesis draws the cases and checks the answers; httpx sends them, because the
app's database pool lives on the test's event loop (schemathesis' own ASGI transport would
run the app on another loop). Budget: EXAMPLES derandomized examples per operation, per
generation mode, per role, so CI fails the same way every run; about a minute on two cores.
Nothing is skipped: logout and logout-all get a fresh sign-in per case; the multipart
upload is sent as generated; the Stripe webhook, unsigned, must give its documented 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.auth_fixtures import SeededClinic, login
from tests.api.conftest import ROLES
from tests.api.payment_fixtures import SECRET_KEY, WEBHOOK_SECRET
from tests.conftest import client_for
from tests.support.stripe import LocalStripe
from topsmile.app import create_app, lifespan
from topsmile.config import Rate, Settings
from topsmile.core.middleware import EdgeMiddleware

EXAMPLES = 30  # per operation, per generation mode, per role
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ANONYMOUS = "anonymous"
# These end the session that sends them, so each of their cases gets a fresh sign-in of
# its own and the other operations keep a live session.
SESSION_ENDING = {"POST /api/auth/logout", "POST /api/auth/logout-all"}


def operations(document: dict[str, Any]) -> list[APIOperation]:
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def drawn_cases(operation: APIOperation) -> list[Case]:
    """A fixed, reproducible handful of cases per generation mode."""
    cases: list[Case] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def collect(case: Case) -> None:
            cases.append(case)

        try:
            collect()
        except Unsatisfiable:
            # Only the negative mode can be: an operation with no inputs (no parameters,
            # no body) has no invalid request to draw.
            assert mode is GenerationMode.NEGATIVE, operation.label
    return cases


def request_kwargs(case: Case, client: httpx.AsyncClient) -> dict[str, Any]:
    """The case as httpx arguments, with the client's CSRF header and cookie jar."""
    sent = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = dict(sent.get("headers") or {})
    token = client.cookies.get("csrf_token")
    if token:
        headers.setdefault("X-CSRF-Token", token)
    kwargs: dict[str, Any] = {"headers": headers, "params": sent.get("params")}
    for key in ("json", "data", "files"):
        if key in sent:
            kwargs[key] = sent[key]
    if isinstance(kwargs.get("data"), str | bytes):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        kwargs["files"] = [(name, as_text(part)) for name, part in kwargs["files"]]
    return {"method": sent["method"], "url": sent["url"], **kwargs}


def as_text(part: tuple[Any, ...]) -> tuple[Any, ...]:
    """requests sends a non-string multipart value (a negative case's number) as its text;
    httpx wants it as text or bytes already."""
    filename, value, *rest = part
    return (filename, value if isinstance(value, str | bytes) else str(value), *rest)


async def run_case(case: Case, client: httpx.AsyncClient, role: str) -> tuple[int, str | None]:
    """The status, and None if the answer keeps the contract, else what schemathesis found."""
    response = await client.request(**request_kwargs(case, client))
    await response.request.aread()  # a multipart body is streamed; the checks read it
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as found:
        return response.status_code, f"{case.operation.label} as {role}: {found}"
    return response.status_code, None


@pytest.fixture
async def fuzz_app(settings: Settings, stripe_api: LocalStripe) -> AsyncIterator[EdgeMiddleware]:
    """The app with Stripe configured (a local Stripe-compatible server), so the payment
    operations run for real instead of answering 503 "not configured", and with room in
    the per-user API throttle and the failed sign-in lock (wrong current passwords count):
    a 429 is documented everywhere, but a throttled role would stop reaching every route
    after it."""
    configured = msgspec.structs.replace(
        settings,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_api.base_url,
        rate_api_per_user=Rate(1_000_000, 3600),
        login_max_failures=1_000_000,
    )
    asgi = create_app(configured, run_relay=False)
    async with lifespan(asgi.app):
        yield asgi


@pytest.fixture
async def signed_in(
    fuzz_app: EdgeMiddleware, clinic: SeededClinic
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = {role: await stack.enter_async_context(client_for(fuzz_app)) for role in ROLES}
        for role, client in clients.items():
            await login(client, clinic, role)
        yield clients


# The budget takes about a minute alone on two cores; room for a busy CI machine.
@pytest.mark.timeout(300)
async def test_every_operation_keeps_its_documented_contract_for_every_role(
    fuzz_app: EdgeMiddleware, clinic: SeededClinic, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    failures: list[str] = []
    succeeded: set[str] = set()  # operations some case got a 2xx from
    async with client_for(fuzz_app) as anonymous:
        found = operations((await anonymous.get("/schema/openapi.json")).json())
        assert len(found) >= 60, "the document lists every operation"
        # Session-ending operations go last: logout-all ends every session of the user.
        found.sort(key=lambda operation: operation.label in SESSION_ENDING)
        clients = {**signed_in, ANONYMOUS: anonymous}
        for operation in found:
            if operation.label in SESSION_ENDING:
                await still_signed_in(signed_in)
            cases = drawn_cases(operation)
            assert cases, f"no case drawn for {operation.label}"
            for role, client in clients.items():
                for case in cases:
                    if operation.label in SESSION_ENDING and role != ANONYMOUS:
                        async with client_for(fuzz_app) as fresh:
                            await login(fresh, clinic, role)
                            status, failure = await run_case(case, fresh, role)
                    else:
                        status, failure = await run_case(case, client, role)
                    if failure is not None:
                        failures.append(failure)
                    if 200 <= status < 300:
                        succeeded.add(operation.label)
    assert not failures, f"{len(failures)} contract failures:\n\n" + "\n\n".join(failures)
    # The generated requests get past the guards and the validation, not only refused.
    assert len(succeeded) >= 25, sorted(succeeded)


async def still_signed_in(clients: dict[str, httpx.AsyncClient]) -> None:
    """The fuzzing so far ran signed in: no case ended a role's session on the way."""
    for role, client in clients.items():
        assert (await client.get("/api/auth/me")).status_code == 200, role
