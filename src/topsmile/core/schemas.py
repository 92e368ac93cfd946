"""Wire structs and strict request-body decoding.

Litestar converts request bodies leniently ("30" becomes 30); SPEC §1 wants JSON types to
be strict. Every handler that takes a body declares it with `**body(Model)`, which decodes
with msgspec in strict mode while Litestar still documents the schema in OpenAPI. That one
decode path is also where every body is held to SPEC §1's edge rules: sent as
`application/json` (else 415), UTF-8, nested at most 32 levels (else 400).
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from litestar.dto import DTOConfig, MsgspecDTO
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from topsmile.core import validation
from topsmile.core.errors import FieldError, UnsupportedMediaType, ValidationError

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`\Z")
_FIELD_NAMED = re.compile(r"(?:unknown|missing required) field `([^`]*)`")

MAX_DEPTH = 32
# A JSON string (escapes included), written so the regex engine never backtracks.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


class Input(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """A request body. Unknown keys are a 400, as SPEC §1 says.

    Each field's rule (core/validation.py: names, emails, zones...) runs as it is decoded."""

    def __post_init__(self) -> None:
        validation.apply_rules(self)


class Output(msgspec.Struct, rename="camel", kw_only=True):
    """A response body."""


class Page(Output, Generic[T]):
    """One page of a listing (`page`/`pageSize` in core/ranges.py) and the total count."""

    items: list[T]
    total: int
    page: int
    page_size: int


def validation_error(exc: msgspec.MsgspecError) -> ValidationError:
    """Turn msgspec's message into a problem naming the offending field."""
    if not isinstance(exc, msgspec.ValidationError):  # ValidationError is a DecodeError too
        message = "The body is not valid JSON."
        return ValidationError(message, errors=[FieldError("body", message)])
    message = str(exc)
    path = ""
    if match := _AT_PATH.search(message):
        path = match.group(1)
        message = message[: match.start()]
    if isinstance(exc.__cause__, validation.FieldInvalid):  # a field rule's own problem
        return exc.__cause__.within(path)
    if match := _FIELD_NAMED.search(message):
        path = f"{path}.{match.group(1)}" if path else match.group(1)
    return ValidationError(message, errors=[FieldError(path or "body", message)])


def _malformed(message: str) -> ValidationError:
    return ValidationError(message, errors=[FieldError("body", message)])


def too_deep(raw: bytes) -> bool:
    """Do arrays and objects in `raw` nest deeper than MAX_DEPTH (brackets inside strings
    not counted)? Checked before decoding, as a linear scan done in C (regex, translate,
    accumulate), so a hostile body costs no recursion; an unterminated string can only
    over-count, and that body is malformed anyway."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False  # it cannot nest deeper than it has brackets
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets))) > MAX_DEPTH


def decode_strict(raw: bytes, model: type[T]) -> T:
    """Decode a request body into `model`; every malformed body is a 400, never a 500."""
    if too_deep(raw):
        raise _malformed(f"The body nests deeper than {MAX_DEPTH} levels.")
    try:
        raw.decode("utf-8")  # SPEC §1: all of it, also bytes msgspec would skip over
    except UnicodeDecodeError:
        raise _malformed("The body is not valid UTF-8.") from None
    try:
        return msgspec.json.decode(raw, type=model, strict=True)
    except msgspec.MsgspecError as exc:
        raise validation_error(exc) from None
    except (UnicodeDecodeError, RecursionError):
        raise _malformed("The body is not valid JSON.") from None


def require_json(content_type: str | None) -> None:
    """SPEC §1: a body is sent as `application/json` (parameters allowed; a charset, if
    named, is UTF-8). A form or text/plain body is refused before anything reads it, so a
    cross-site form cannot post JSON-looking text."""
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType("Send the body as Content-Type: application/json.")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("A JSON body is UTF-8; send charset=utf-8 or none.")


class StrictBody(MsgspecDTO[S], Generic[S]):
    config = DTOConfig(rename_strategy="camel", forbid_unknown_fields=True)

    def decode_bytes(self, value: bytes) -> Any:
        # Litestar calls this only for a non-empty body: an empty one needs no Content-Type.
        require_json(self.asgi_connection.headers.get("content-type"))
        return decode_strict(value, self.model_type)

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        """Document the struct itself (the DTO's transfer model mangles optional
        constrained fields); decoding never goes through the transfer model anyway."""
        return closed_schema(
            schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type)),
            schema_creator,
        )


class StrictListBody(StrictBody[S], Generic[S]):
    def decode_bytes(self, value: bytes) -> Any:
        require_json(self.asgi_connection.headers.get("content-type"))
        return decode_strict(value, list[self.model_type])  # type: ignore[name-defined]

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return closed_schema(
            schema_creator.for_field_definition(
                FieldDefinition.from_annotation(list[cls.model_type])  # type: ignore[name-defined]
            ),
            schema_creator,
        )


def closed_schema(
    schema: Reference | Schema, schema_creator: SchemaCreator, seen: set[int] | None = None
) -> Reference | Schema:
    """Mark every object of a body schema `additionalProperties: false`: bodies and the
    structs nested in them forbid unknown fields (SPEC §1: a 400), and a client or a fuzzer
    building bodies from the document must not add keys. Returns `schema`."""
    seen = set() if seen is None else seen
    target = (
        schema_creator.schema_registry.from_reference(schema).schema
        if isinstance(schema, Reference)
        else schema
    )
    if id(target) in seen:
        return schema
    seen.add(id(target))
    if target.properties is not None:
        target.additional_properties = False
    nested = [
        *(target.properties or {}).values(),
        *(target.one_of or []),
        *(target.any_of or []),
        *(target.all_of or []),
        *([target.items] if isinstance(target.items, Reference | Schema) else []),
    ]
    for part in nested:
        closed_schema(part, schema_creator, seen)
    return schema


def body(model: type[Input], *, many: bool = False) -> dict[str, Any]:
    """Route-decorator arguments for a strictly decoded body of `model` (or a list of them)."""
    dto = StrictListBody[model] if many else StrictBody[model]  # type: ignore[valid-type]
    return {"dto": dto, "return_dto": None}
