"""Routes read from the OpenAPI document, for tests that sweep a whole class of routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

_PARAM = "{"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with every path parameter filled in with a fresh UUID
    operation_id: str
    has_body: bool

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.operation_id})"


def _fill(path: str) -> str:
    parts = [str(uuid.uuid4()) if p.startswith(_PARAM) else p for p in path.split("/")]
    return "/".join(parts)


def _json_body(op: dict[str, Any]) -> bool:
    """JSON bodies only: the multipart upload has its own tests (tests/api/test_uploads.py)."""
    return "application/json" in op.get("requestBody", {}).get("content", {})


async def operations(client: httpx.AsyncClient) -> list[Operation]:
    document: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    return [
        Operation(method.upper(), _fill(path), op["operationId"], _json_body(op))
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


async def body_operations(client: httpx.AsyncClient) -> list[Operation]:
    found = [op for op in await operations(client) if op.has_body]
    assert len(found) >= 10, "the OpenAPI document lists the body routes"
    return found


async def property_names(client: httpx.AsyncClient) -> list[str]:
    """Every property name of every schema: keys a fuzzer should try."""
    document: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    names: set[str] = set()
    for schema in document.get("components", {}).get("schemas", {}).values():
        names.update(schema.get("properties", {}))
    return sorted(names)


def csrf_header(client: httpx.AsyncClient) -> dict[str, str]:
    token = client.cookies.get("csrf_token")
    return {"X-CSRF-Token": token} if token else {}


async def send(
    client: httpx.AsyncClient,
    op: Operation,
    content: bytes,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**csrf_header(client), **(headers or {})}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return await client.request(op.method, op.path, content=content, headers=sent)


async def decoding_clients(
    ops: list[Operation], clients: dict[str, httpx.AsyncClient]
) -> dict[Operation, httpx.AsyncClient]:
    """For each body route, a signed-in client (with its CSRF header) whose request gets
    past the route's guards to body decoding: the first role whose broken JSON is a 400."""
    reaching: dict[Operation, httpx.AsyncClient] = {}
    for op in ops:
        for client in clients.values():
            if (await send(client, op, b"[")).status_code == 400:
                reaching[op] = client
                break
        assert op in reaching, f"no role gets to decode the body of {op}"
    return reaching
