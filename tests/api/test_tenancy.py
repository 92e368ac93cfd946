"""Every id-taking route of the app, enumerated from the OpenAPI document, answers 404 for
another clinic's ids. The other clinic is the demo clinic (which holds every kind of record)
and its ids are found by listing each collection, so new routes are covered unchanged."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.api.auth_fixtures import csrf, login, seed_clinic
from tests.conftest import client_for
from topsmile.core.middleware import EdgeMiddleware
from topsmile.demo import seed as demo

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Public browsing names its clinic by slug, by design and with no session: a slug is an
# address, not another clinic's id. Its cross-clinic ids (in the query) are swept in
# tests/api/test_public.py::test_unknown_slugs_and_other_clinics_ids_are_404.
PUBLIC = "/api/public/"


async def other_clinic_ids(other: httpx.AsyncClient, document: dict[str, Any]) -> dict[str, str]:
    """One id of each kind that belongs to the other clinic, found by listing the collection
    each path parameter belongs to (shorter paths first, so outer ids are known)."""
    ids: dict[str, str] = {}
    for path in sorted(document["paths"], key=len):
        for match in _PARAM.finditer(path):
            name = match.group(1)
            collection = path[: match.start()].rstrip("/")
            if name in ids or "get" not in document["paths"].get(collection, {}):
                continue
            listed = (await other.get(_PARAM.sub(lambda m: ids[m.group(1)], collection))).json()
            items = listed["items"] if isinstance(listed, dict) else listed
            assert items, f"the demo clinic has no {name}: seed one in topsmile.demo.seed"
            ids[name] = items[0]["id"]
    return ids


def _example(
    schema: dict[str, Any], components: dict[str, Any], ids: dict[str, str], name: str = ""
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
    mine = await seed_clinic()
    theirs = f"t-{uuid.uuid4().hex[:12]}"
    runtime = app.app.state.runtime
    assert await demo.seed(runtime.hasher, slug=theirs, storage=runtime.storage)
    async with client_for(app) as client, client_for(app) as other:
        signed_in = await other.post(
            "/api/auth/login",
            json={"clinic": theirs, "email": demo.LOGINS.admin, "password": demo.LOGINS.password},
        )
        assert signed_in.status_code == 200
        document = (await client.get("/schema/openapi.json")).json()
        ids = await other_clinic_ids(other, document)
        before = (await other.get(f"/api/patients/{ids['patient_id']}")).json()
        components = document.get("components", {}).get("schemas", {})
        checked = []
        await login(client, mine, "admin")
        for path, operations in document["paths"].items():
            names = _PARAM.findall(path)
            if not names or path.startswith(PUBLIC):
                continue
            missing = [n for n in names if n not in ids]
            assert not missing, f"{path}: no collection route lists {missing}"
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
        assert (await other.get(f"/api/patients/{ids['patient_id']}")).json() == before
