"""The edge rules of request bodies (SPEC §1) and of trusted origins (SPEC §3)."""

from __future__ import annotations

import pytest

from topsmile.auth.origin import parse_origin, trusted_origins
from topsmile.core.errors import UnsupportedMediaType, ValidationError
from topsmile.core.schemas import (
    MAX_DEPTH,
    Input,
    decode_strict,
    require_json,
    too_deep,
)


class Thing(Input):
    name: str


def nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_is_capped_at_32_levels() -> None:
    assert MAX_DEPTH == 32
    assert not too_deep(nest(32))
    assert too_deep(nest(33))
    assert too_deep(b'{"a": {"b": ' + nest(31) + b"}}")
    assert not too_deep(b'{"a": {"b": ' + nest(30) + b"}}")
    assert not too_deep(b"[]" * 10_000)  # wide is not deep


def test_brackets_inside_strings_do_not_count() -> None:
    assert not too_deep(b'["' + b"[{" * 100 + b'"]')
    assert not too_deep(b'["\\"' + b"[" * 100 + b'"]')  # an escaped quote stays inside
    assert too_deep(b'["\\\\"' + nest(40) + b"]")  # an escaped backslash ends the string


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "\xff"}', b"\xef\xbb\xbf\xff", nest(5000), b'{"name": ' + nest(40) + b"}"],
)
def test_malformed_bodies_are_validation_errors(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_strict(raw, Thing)


@pytest.mark.parametrize(
    "value",
    ["application/json", "application/json; charset=utf-8", 'APPLICATION/JSON;CHARSET="UTF-8"'],
)
def test_json_content_types_are_accepted(value: str) -> None:
    require_json(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json-seq",
        "application/json; charset=latin-1",
        "text/json",
    ],
)
def test_other_content_types_are_415(value: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        require_json(value)


def test_origins_compare_by_scheme_host_and_port() -> None:
    assert parse_origin("https://App.Example.com") == ("https", "app.example.com", 443)
    assert parse_origin("http://localhost:8000") == ("http", "localhost", 8000)
    assert parse_origin("null") is None
    assert parse_origin("ftp://x.example") is None
    assert parse_origin("https://x.example:99999") is None
    own = trusted_origins("http", "api.example.com", ("https://app.example.com",))
    assert own == {
        ("http", "api.example.com", 80),
        ("https", "api.example.com", 443),
        ("https", "app.example.com", 443),
    }
    assert trusted_origins("https", None, ()) == set()
