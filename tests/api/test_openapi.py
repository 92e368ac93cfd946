"""SPEC §1: every operation has an operationId, tags, and documented problem responses."""

from __future__ import annotations

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
