"""Property: nothing a client sends to a body route produces a 5xx (SPEC §1).

Random bytes, random JSON shapes (deep, wide, wrong types, unicode, NUL, keys taken from
the API's own schemas) and random content types go to every body route of the OpenAPI
document, once signed in as a role that gets past the route's guards (with its CSRF
token, so the body is decoded) and once anonymously. Derandomized and small, so it stays a
few seconds and fails the same way every run.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.openapi_routes import (
    Operation,
    body_operations,
    decoding_clients,
    property_names,
    send,
)

FIXED_KEYS = ["clinic", "email", "password", "settings", "name", "firstName", "role", "x"]
JSON_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8"])
CONTENT_TYPES = st.one_of(
    JSON_TYPES,
    JSON_TYPES,  # most bodies should get as far as decoding
    st.sampled_from(
        [
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=zz",
            "application/json; charset=utf-16",
            "",
        ]
    ),
    st.none(),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.integers(28, 60).map(nested),
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),  # any code point but surrogates, NUL included
        st.sampled_from(["", " ", "\x00", "2026-01-01", "2026-01-01T10:00:00Z", "#ffffff"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(keys, st.text(max_size=10)), inner, max_size=6),
        ),
        max_leaves=25,
    )


def splice(parts: tuple[bytes, bytes, int]) -> bytes:
    body, raw, at = parts
    at %= len(body) + 1
    return body[:at] + raw + body[at:]


def bodies(keys: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    encoded = json_values(keys).map(lambda v: json.dumps(v, ensure_ascii=False).encode())
    # Raw bytes (often not UTF-8) inside a string value of a known key, or anywhere.
    raw_string = st.tuples(keys, st.binary(max_size=8)).map(
        lambda kv: b'{"' + kv[0].encode() + b'": "' + kv[1] + b'"}'
    )
    spliced = st.tuples(encoded, st.binary(min_size=1, max_size=4), st.integers(0, 10**6))
    return st.one_of(encoded, raw_string, spliced.map(splice), st.binary(max_size=120))


@pytest.fixture
async def reaching(
    client: httpx.AsyncClient, as_role: dict[str, httpx.AsyncClient]
) -> dict[Operation, httpx.AsyncClient]:
    return await decoding_clients(await body_operations(client), as_role)


@pytest.fixture
async def keys(client: httpx.AsyncClient) -> list[str]:
    return sorted({*FIXED_KEYS, *await property_names(client)})


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), content_type=CONTENT_TYPES)
async def test_no_body_route_answers_5xx(
    client: httpx.AsyncClient,
    reaching: dict[Operation, httpx.AsyncClient],
    keys: list[str],
    data: st.DataObject,
    content_type: str | None,
) -> None:
    content = data.draw(bodies(st.sampled_from(keys)), label="body")
    for op, signed_in in reaching.items():
        await check(signed_in, op, content, content_type)
        await check(client, op, content, content_type)


async def check(
    client: httpx.AsyncClient, op: Operation, content: bytes, content_type: str | None
) -> None:
    response = await send(client, op, content, content_type)
    where = f"{op} {content_type!r} {content[:200]!r}"
    assert response.status_code < 500, f"{where}: {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", where
