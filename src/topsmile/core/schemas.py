"""Wire structs and strict request-body decoding.

Litestar converts request bodies leniently ("30" becomes 30); SPEC §1 wants JSON types to
be strict. Every handler that takes a body declares it with `**body(Model)`, which decodes
with msgspec in strict mode while Litestar still documents the schema in OpenAPI.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from litestar.dto import DTOConfig, MsgspecDTO
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from topsmile.core import validation
from topsmile.core.errors import FieldError, ValidationError

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`\Z")
_FIELD_NAMED = re.compile(r"(?:unknown|missing required) field `([^`]*)`")


class Input(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """A request body. Unknown keys are a 400, as SPEC §1 says.

    Each field's rule (core/validation.py: names, emails, zones...) runs as it is decoded."""

    def __post_init__(self) -> None:
        validation.apply_rules(self)


class Output(msgspec.Struct, rename="camel", kw_only=True):
    """A response body."""


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


def decode_strict(raw: bytes, model: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=model, strict=True)
    except msgspec.MsgspecError as exc:
        raise validation_error(exc) from None


class StrictBody(MsgspecDTO[S], Generic[S]):
    config = DTOConfig(rename_strategy="camel", forbid_unknown_fields=True)

    def decode_bytes(self, value: bytes) -> Any:
        return decode_strict(value, self.model_type)

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        """Document the struct itself (the DTO's transfer model mangles optional
        constrained fields); decoding never goes through the transfer model anyway."""
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))


class StrictListBody(StrictBody[S], Generic[S]):
    def decode_bytes(self, value: bytes) -> Any:
        return decode_strict(value, list[self.model_type])  # type: ignore[name-defined]

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(
            FieldDefinition.from_annotation(list[cls.model_type])  # type: ignore[name-defined]
        )


def body(model: type[Input], *, many: bool = False) -> dict[str, Any]:
    """Route-decorator arguments for a strictly decoded body of `model` (or a list of them)."""
    dto = StrictListBody[model] if many else StrictBody[model]  # type: ignore[valid-type]
    return {"dto": dto, "return_dto": None}
