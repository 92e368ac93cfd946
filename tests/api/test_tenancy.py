"""Every id-taking route of the app, enumerated from the OpenAPI document, answers 404 for
another clinic's ids. A new route with a new kind of id fails here until its id is added
to `other_clinic_ids`, so no route escapes the check."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.api.catalogue_fixtures import seed_catalogue
from tests.conftest import client_for
from topsmile.core.middleware import EdgeMiddleware

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


async def other_clinic_ids(other: httpx.AsyncClient, theirs: SeededClinic) -> dict[str, uuid.UUID]:
    """One id of each kind that belongs to the other clinic, by path parameter name."""
    await login(other, theirs, "admin")
    [session] = (await other.get("/api/auth/sessions")).json()
    catalogue = await seed_catalogue(other)
    patient = await other.post(
        "/api/patients", json={"firstName": "Theo", "lastName": "Theirs"}, headers=csrf(other)
    )
    assert patient.status_code == 201, patient.text
    return {
        "session_id": uuid.UUID(session["id"]),
        "user_id": theirs.users["receptionist"],
        "patient_id": uuid.UUID(patient.json()["id"]),
        **catalogue,
    }


def _example(
    schema: dict[str, Any], components: dict[str, Any], ids: dict[str, uuid.UUID], name: str = ""
) -> Any:
    """A minimal value that satisfies `schema`, so validation never answers before lookup."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].split("/")[-1]], components, ids, name)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], components, ids, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {
            key: _example(prop, components, ids, key)
            for key, prop in schema.get("properties", {}).items()
            if key in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(next(iter(ids.values())))
    if fmt == "date-time":
        hour = 13 if name == "end" else 12  # periods end after they start
        return datetime(2030, 1, 7, hour, 0, tzinfo=UTC).isoformat()
    if fmt == "date":
        return "2030-01-07"
    return "x" * max(1, schema.get("minLength", 1))


async def test_every_id_route_is_404_across_clinics(app: EdgeMiddleware) -> None:
    mine, theirs = await seed_clinic(), await seed_clinic()
    async with client_for(app) as client, client_for(app) as other:
        ids = await other_clinic_ids(other, theirs)
        document = (await client.get("/schema/openapi.json")).json()
        components = document.get("components", {}).get("schemas", {})
        checked = []
        await login(client, mine, "admin")
        for path, operations in document["paths"].items():
            names = _PARAM.findall(path)
            if not names:
                continue
            missing = [n for n in names if n not in ids]
            assert not missing, f"{path}: add an id of the other clinic for {missing}"
            url = _PARAM.sub(lambda m: str(ids[m.group(1)]), path)
            for method, operation in operations.items():
                if method not in {"get", "post", "put", "patch", "delete"}:
                    continue
                content = operation.get("requestBody", {}).get("content", {})
                body = None
                if "application/json" in content:
                    body = _example(content["application/json"]["schema"], components, ids)
                response = await client.request(
                    method.upper(), url, json=body, headers=csrf(client)
                )
                assert response.status_code == 404, f"{method.upper()} {path}: {response.text}"
                checked.append(f"{method.upper()} {path}")
        assert "DELETE /api/auth/sessions/{session_id}" in checked
        # Nothing of the other clinic changed: its session lives, its users are as they were.
        me = await other.get("/api/auth/me")
        assert me.status_code == 200
        users = await other.get("/api/users") if "/api/users" in document["paths"] else None
        if users is not None:
            assert all(u["active"] for u in users.json()["items"])
        assert "DELETE /api/patients/{patient_id}" in checked
        patient = (await other.get(f"/api/patients/{ids['patient_id']}")).json()
        assert (patient["lastName"], patient["status"]) == ("Theirs", "active")
