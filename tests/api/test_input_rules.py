"""SPEC §1's field rules hold on every body route, create and patch alike, because the
shared types of core/validation.py carry them (issue 8: validation siblings)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.auth_fixtures import PASSWORD, SeededClinic, csrf
from topsmile.core import clock

BAD_NAMES = ["   ", "\t \n", "Ana\x00Lima", "Ana\nLima", "x" * 101]
BAD_EMAILS = [
    "not-an-email",
    "<victim@x.com>",
    "Victim <victim@x.com>",
    "x@y..com",
    "vic\x01tim@x.com",
    "a@b@x.com",
    "v" * 250 + "@x.com",
]
BAD_ZONES = ["localtime", "Factory", "posixrules", "Nowhere/Town", "US/Eastern", ""]
RULED = re.compile(r"(name|email|timezone)$", re.IGNORECASE)


def _bad_values(field: str) -> list[str]:
    if field.lower().endswith("email"):
        return BAD_EMAILS
    if field.lower().endswith("timezone"):
        return BAD_ZONES
    return BAD_NAMES


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [_resolve(document, s) for s in schema[key]]
            return next(s for s in options if s.get("type") != "null")
    return schema


SAMPLES = {
    "email": "sweep@example.com",
    "password": PASSWORD,
    "currentPassword": PASSWORD,
    "newPassword": PASSWORD + "x",
    "slug": "sweep-clinic",
    "timezone": "America/Sao_Paulo",
    "currency": "brl",
    "token": "token",
}


def _sample(document: dict[str, Any], schema: dict[str, Any], name: str) -> Any:
    """A value the decoder accepts for a field (the rest of the body must be valid, so that
    the one bad field is what the answer names)."""
    schema = _resolve(document, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: _sample(document, properties[k], k) for k in schema.get("required", [])}
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return "2030-01-07T10:00:00Z"
    if schema.get("format") == "date":
        return "1990-01-01"
    return SAMPLES.get(name, "Ana")


def _ruled_fields(
    document: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> list[tuple[str, ...]]:
    """Paths to every string field named like *name, *email or timezone, nested included."""
    schema = _resolve(document, schema)
    found: list[tuple[str, ...]] = []
    for key, field in schema.get("properties", {}).items():
        resolved = _resolve(document, field)
        if resolved.get("type") == "object":
            found += [(key, *rest) for rest in _ruled_fields(document, resolved)]
        elif resolved.get("type") == "string" and RULED.search(key):
            found.append((key,))
    return found


def _body_routes(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = _resolve(document, content["application/json"]["schema"])
                if schema.get("type") == "object":
                    routes.append((method, path, schema))
    return routes


async def _send(
    clients: list[httpx.AsyncClient], method: str, path: str, body: dict[str, Any]
) -> httpx.Response:
    """As an admin, or as a patient where only patients may call (their own profile)."""
    for client in clients:
        response = await client.request(method, path, json=body, headers=csrf(client))
        if response.status_code != 403:
            return response
    return response


async def test_every_name_email_and_zone_field_refuses_bad_values(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    document = (await as_role["admin"].get("/schema/openapi.json")).json()
    clients = [as_role["admin"], as_role["patient"]]
    covered = set()
    failures = []
    for method, path, schema in _body_routes(document):
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
        base = _sample(document, schema, "body")
        if "clinic" in base:
            base["clinic"] = clinic.slug
        for field in _ruled_fields(document, schema):
            wire = ".".join(field)
            covered.add(f"{method.upper()} {path} {wire}")
            for bad in _bad_values(field[-1]):
                body = dict(base)
                holder = body
                for key in field[:-1]:
                    holder[key] = dict(holder.get(key) or {})
                    holder = holder[key]
                holder[field[-1]] = bad
                response = await _send(clients, method, url, body)
                named = [e["field"] for e in response.json().get("errors") or []]
                if response.status_code != 400 or wire not in named:
                    failures.append((method, path, wire, bad, response.status_code, named))
    assert failures == []
    assert {
        "POST /api/auth/register email",
        "POST /api/auth/login email",
        "POST /api/clinics admin.email",
        "POST /api/clinics timezone",
        "PATCH /api/clinic timezone",
        "POST /api/users firstName",
        "PATCH /api/users/{user_id} lastName",
        "POST /api/scheduling/providers email",
        "PATCH /api/scheduling/providers/{provider_id} firstName",
        "PATCH /api/scheduling/services/{service_id} name",
        "PATCH /api/patients/{patient_id} email",
        "PATCH /api/patients/me firstName",
    } <= covered


PROVIDERS = "/api/scheduling/providers"
SERVICES = "/api/scheduling/services"


async def test_blank_optional_text_is_stored_as_null(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin = as_role["admin"]
    provider = await admin.post(
        PROVIDERS,
        json={"firstName": " Rita ", "lastName": "Dias", "specialty": "  \t"},
        headers=csrf(admin),
    )
    assert provider.status_code == 201, provider.text
    assert (provider.json()["firstName"], provider.json()["specialty"]) == ("Rita", None)
    patched = await admin.patch(
        f"{PROVIDERS}/{provider.json()['id']}",
        json={"specialty": " Ortho "},
        headers=csrf(admin),
    )
    assert patched.json()["specialty"] == "Ortho"
    service = await admin.post(
        SERVICES,
        json={
            "name": "Cleaning",
            "durationMinutes": 30,
            "priceAmount": 0,
            "category": "   ",
            "description": " \n ",
        },
        headers=csrf(admin),
    )
    assert service.status_code == 201, service.text
    assert (service.json()["category"], service.json()["description"]) == (None, None)
    patched = await admin.patch(
        f"{SERVICES}/{service.json()['id']}",
        json={"category": "  ", "description": "   "},
        headers=csrf(admin),
    )
    assert (patched.json()["category"], patched.json()["description"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"specialty": "x" * 101}, "specialty"),
        ({"specialty": "Ortho\x00"}, "specialty"),
        ({"specialty": "Or\ntho"}, "specialty"),
        ({"email": "not-an-email"}, "email"),
    ],
)
async def test_provider_fields_are_validated_on_create_and_patch(
    as_role: dict[str, httpx.AsyncClient], body: dict[str, str], field: str
) -> None:
    admin = as_role["admin"]
    base = {"firstName": "Rita", "lastName": "Dias"}
    created = await admin.post(PROVIDERS, json={**base, **body}, headers=csrf(admin))
    assert created.status_code == 400
    assert [e["field"] for e in created.json()["errors"]] == [field]
    ok = await admin.post(PROVIDERS, json=base, headers=csrf(admin))
    patched = await admin.patch(f"{PROVIDERS}/{ok.json()['id']}", json=body, headers=csrf(admin))
    assert patched.status_code == 400
    assert [e["field"] for e in patched.json()["errors"]] == [field]


async def test_provider_email_is_stored_normalized(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin = as_role["admin"]
    created = await admin.post(
        PROVIDERS,
        json={"firstName": "Rita", "lastName": "Dias", "email": " Rita.Dias@Example.COM "},
        headers=csrf(admin),
    )
    assert created.json()["email"] == "rita.dias@example.com"


def _registration(clinic: SeededClinic, born: str) -> dict[str, Any]:
    return {
        "clinic": clinic.slug,
        "email": f"r-{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
        "firstName": "Rosa",
        "lastName": "Lima",
        "dateOfBirth": born,
    }


async def test_register_date_of_birth_from_1900(
    client: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    early = await client.post("/api/auth/register", json=_registration(clinic, "1899-12-31"))
    assert early.status_code == 400
    assert [e["field"] for e in early.json()["errors"]] == ["dateOfBirth"]
    first = await client.post("/api/auth/register", json=_registration(clinic, "1900-01-01"))
    assert first.status_code == 201, first.text


async def test_register_date_of_birth_is_not_after_the_clinics_today(
    client: httpx.AsyncClient, clinic: SeededClinic
) -> None:
    """At 01:30 UTC it is still yesterday evening in São Paulo (the clinic's zone): the UTC
    date is a date of birth in the future there."""
    utc_today = datetime.now(UTC).date() + timedelta(days=1)
    target = datetime.combine(utc_today, datetime.min.time(), UTC) + timedelta(hours=1, minutes=30)
    clock.travel(target - datetime.now(UTC))
    try:
        future = await client.post(
            "/api/auth/register", json=_registration(clinic, utc_today.isoformat())
        )
        today = await client.post(
            "/api/auth/register",
            json=_registration(clinic, (utc_today - timedelta(days=1)).isoformat()),
        )
    finally:
        clock.reset()
    assert future.status_code == 400, future.text
    assert [e["field"] for e in future.json()["errors"]] == ["dateOfBirth"]
    assert today.status_code == 201, today.text
