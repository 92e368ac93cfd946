"""The shared validators (core/validation.py) and the whole-string rule of every pattern."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topsmile
from topsmile.core import validation
from topsmile.core.errors import ValidationError
from topsmile.core.schemas import Input


@pytest.mark.parametrize(
    "value",
    [
        "<victim@x.com>",
        "Victim <victim@x.com>",
        "x@y..com",
        "vic\x01tim@x.com",
        "victim@x.com\x00",
        "not-an-email",
        "a@localhost",
        '"quoted"@x.com',
    ],
)
def test_email_refuses(value: str) -> None:
    with pytest.raises(ValidationError):
        validation.email(value)


def test_email_is_lower_cased_and_trimmed() -> None:
    assert validation.email("  Maria.Silva@Example.COM ") == "maria.silva@example.com"


@pytest.mark.parametrize(
    "zone", ["localtime", "Factory", "posixrules", "US/Eastern", "EST", "Etc/GMT+3", "Mars/X"]
)
def test_timezone_refuses_what_is_not_an_iana_place(zone: str) -> None:
    with pytest.raises(ValidationError):
        validation.timezone(zone)


@pytest.mark.parametrize("zone", ["UTC", "America/Sao_Paulo", "Europe/Lisbon", "Asia/Tokyo"])
def test_timezone_accepts_places_and_utc(zone: str) -> None:
    assert validation.timezone(zone) == zone


@pytest.mark.parametrize("value", ["   ", "", "\u3000", "Ana\x00", "An\na", "An\x1ba"])
def test_name_refuses_blank_and_control_characters(value: str) -> None:
    with pytest.raises(ValidationError):
        validation.name(value)


def test_slug_matches_the_whole_string() -> None:
    assert validation.slug("sorriso-centro") == "sorriso-centro"
    with pytest.raises(ValidationError):
        validation.slug("sorriso\n")


def _modules() -> list[Any]:
    """Every module of the package (not `__main__`, which runs the CLI)."""
    return [
        importlib.import_module(module.name)
        for module in pkgutil.walk_packages(topsmile.__path__, "topsmile.")
        if not module.name.endswith("__main__")
    ]


def _input_structs() -> list[type[Input]]:
    _modules()
    found: list[type[Input]] = []
    pending: list[type[Any]] = [Input]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found[1:]


def _patterns() -> dict[str, str]:
    """Every `Meta(pattern=...)` of every input struct (msgspec searches with Python `re`)."""
    found = {}
    for struct in _input_structs():
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            kinds = [field.type]
            while kinds:
                kind = kinds.pop()
                if isinstance(kind, msgspec.inspect.UnionType):
                    kinds += kind.types
                elif isinstance(kind, msgspec.inspect.StrType) and kind.pattern:
                    found[f"{struct.__name__}.{field.encode_name}"] = kind.pattern
    return found


def test_input_structs_have_patterns_to_check() -> None:
    assert {"ServiceCreate.color", "WorkingInterval.start"} <= set(_patterns())


@pytest.mark.parametrize("where", sorted(_patterns()))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_pattern_matches_only_whole_values(where: str, data: st.DataObject) -> None:
    """A valid value with a line break before or after it (or any suffix) is refused."""
    pattern = _patterns()[where]
    valid = data.draw(st.from_regex(pattern, fullmatch=True))
    assert re.search(pattern, valid)
    for bad in (valid + "\n", "\n" + valid, valid + "\r\n"):
        assert re.search(pattern, bad) is None, (where, bad)


def _module_patterns() -> dict[str, re.Pattern[str]]:
    """Text patterns (they validate input); byte patterns scan raw bodies and anchor nothing."""
    found = {}
    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found[f"{module.__name__}.{name}"] = value
    return found


_ESCAPES_AND_CLASSES = re.compile(r"\\.|\[(?:\\.|[^\]])*\]")


@pytest.mark.parametrize("where", sorted(_module_patterns()))
def test_no_module_pattern_anchors_with_dollar(where: str) -> None:
    """`$` also matches before a final newline: validate with `fullmatch` or `\\Z`."""
    pattern = _module_patterns()[where].pattern
    assert "$" not in _ESCAPES_AND_CLASSES.sub("", pattern), where
