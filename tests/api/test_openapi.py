"""SPEC §1: every operation has an operationId, tags, and documented problem responses."""

from __future__ import annotations

from typing import Any

import httpx


async def test_every_operation_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operation_ids = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation.get("tags"), where
            assert operation.get("summary"), where
            operation_ids.append(operation["operationId"])
            problems = [s for s in operation["responses"] if s.startswith(("4", "5"))]
            assert "500" in problems, where
            for status in problems:
                if (where, status) == ("GET /api/health", "503"):
                    continue  # SPEC §10: the health document itself, with status "down"
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, where
                assert content["application/problem+json"]["examples"], where
            if "{" in path:
                assert "404" in problems, where
            if method in {"post", "put", "patch"}:
                assert "400" in problems, where
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


async def test_query_parameter_errors_use_wire_names(client: httpx.AsyncClient) -> None:
    from tests.api.auth_fixtures import login, seed_clinic

    clinic = await seed_clinic(("admin",))
    await login(client, clinic, "admin")
    response = await client.get("/api/patients", params={"pageSize": "500"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "pageSize"


async def test_no_content_responses_document_no_body(client: httpx.AsyncClient) -> None:
    """A 204 has no body, so its documented response has no content (issue 13 finding: a
    `Response(None, status_code=204)` was documented as an application/json null)."""
    document = (await client.get("/schema/openapi.json")).json()
    no_content = [
        (f"{method.upper()} {path}", operation["responses"]["204"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "204" in operation["responses"]
    ]
    assert len(no_content) >= 10
    for where, response in no_content:
        assert not response.get("content"), where


async def test_every_anonymous_answer_is_documented(client: httpx.AsyncClient) -> None:
    """Sweep: whatever status an anonymous request gets, the operation documents it (issue
    13 finding: the guards of a controller were not seen, so its 401/403 went undocumented)."""
    from tests.api.openapi_routes import csrf_header, operations

    document = (await client.get("/schema/openapi.json")).json()
    for op in await operations(client):
        template = next(
            path
            for path, ops in document["paths"].items()
            if ops.get(op.method.lower(), {}).get("operationId") == op.operation_id
        )
        response = await client.request(op.method, op.path, headers=csrf_header(client))
        documented = document["paths"][template][op.method.lower()]["responses"]
        assert str(response.status_code) in documented, f"{op}: {response.status_code}"


async def test_create_intent_documents_its_open_intent_answer(client: httpx.AsyncClient) -> None:
    """SPEC §8: an open intent for the same appointment is returned again with 200, so the
    document lists that 200 with the same body as the 201."""
    document = (await client.get("/schema/openapi.json")).json()
    responses = document["paths"]["/api/payments/create-intent"]["post"]["responses"]
    created = responses["201"]["content"]["application/json"]["schema"]
    assert responses["200"]["content"]["application/json"]["schema"] == created


def body_schemas(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every schema a JSON request body holds (nested ones too), by operation."""
    components = document["components"]["schemas"]
    found: dict[str, list[dict[str, Any]]] = {}

    def walk(schema: dict[str, Any], into: list[dict[str, Any]]) -> None:
        if "$ref" in schema:
            target = components[schema["$ref"].rsplit("/", 1)[-1]]
            if all(target is not known for known in into):
                walk(target, into)
            return
        into.append(schema)
        for nested in schema.get("properties", {}).values():
            walk(nested, into)
        for key in ("oneOf", "anyOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, into)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], into)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                walk(
                    content["application/json"]["schema"], found.setdefault(f"{method} {path}", [])
                )
    return found


async def test_request_bodies_are_documented_closed(client: httpx.AsyncClient) -> None:
    """SPEC §1: an unknown key in a body is a 400, so every object a body holds (nested ones
    too) is documented `additionalProperties: false` (issue 13 finding: bodies generated from
    the document with extra keys were all refused)."""
    bodies = body_schemas((await client.get("/schema/openapi.json")).json())
    assert len(bodies) >= 20
    titles = {schema.get("title") for schemas in bodies.values() for schema in schemas}
    assert {"AdminInput", "WorkingInterval"} <= titles, "nested bodies are checked too"
    for where, schemas in bodies.items():
        for schema in schemas:
            if "properties" in schema:  # a struct (a free-form map, like settings, has none)
                assert schema.get("additionalProperties") is False, (where, schema.get("title"))


async def test_email_fields_are_documented_as_emails(client: httpx.AsyncClient) -> None:
    """Every email a body takes is checked as one (core/validation.py), so the document says
    `format: email` (issue 13 finding: bodies generated from the document had any string)."""
    bodies = body_schemas((await client.get("/schema/openapi.json")).json())
    emails = [
        (where, prop)
        for where, schemas in bodies.items()
        for schema in schemas
        for name, prop in schema.get("properties", {}).items()
        if name == "email"
    ]
    assert len(emails) >= 6
    for where, prop in emails:
        options = [prop, *prop.get("oneOf", [])]
        assert any(option.get("format") == "email" for option in options), where


async def test_register_documents_unknown_clinic(client: httpx.AsyncClient) -> None:
    """Issue 13 finding: registering at an unknown clinic slug is a 404 the document missed."""
    response = await client.post(
        "/api/auth/register",
        json={
            "clinic": "no-such-clinic-slug",
            "email": "paula@example.com",
            "password": "Correct-Horse-Battery-9",
            "firstName": "Paula",
            "lastName": "Patient",
        },
    )
    assert response.status_code == 404, response.text
    document = (await client.get("/schema/openapi.json")).json()
    assert "404" in document["paths"]["/api/auth/register"]["post"]["responses"]
