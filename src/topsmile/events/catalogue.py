"""The catalogue of event types: each name is declared once, with its payload type.

Each domain declares its events in `<domain>/events.py`. `new_event` takes an `EventType[P]`
and a `P`, so mypy catches a wrong payload where the event is built; `publish()` checks the
stored payload against the declared type again, inside the caller's transaction, so a bad
one is refused before anything is written (not found by the relay after commit). Handlers
read a payload back with the declared type (`lookup(name).payload`), never by guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec


class NoPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Events whose name, entity and actor say everything."""


class Changed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`*.updated` events: which fields changed (their wire names), never their values."""

    fields: list[str]


P = TypeVar("P", bound=msgspec.Struct)


class InvalidEvent(Exception):
    """A programming error: an undeclared name, or a payload that is not its declared type."""


@dataclass(frozen=True, slots=True, eq=False)
class EventType(Generic[P]):
    name: str
    entity_type: str
    payload: type[P]

    def check(self, payload: dict[str, Any]) -> P:
        """The stored payload read back as its declared type, or InvalidEvent."""
        try:
            return msgspec.convert(payload, self.payload)
        except msgspec.ValidationError as exc:
            message = f"{self.name}: payload is not a {self.payload.__name__}: {exc}"
            raise InvalidEvent(message) from exc


_declared: dict[str, EventType[Any]] = {}


def declare(name: str, entity_type: str, payload: type[P]) -> EventType[P]:
    """Register an event type; each name once, in the module of the domain that owns it."""
    if name in _declared:
        raise InvalidEvent(f"event {name!r} is already declared")
    kind = EventType(name, entity_type, payload)
    _declared[name] = kind
    return kind


def lookup(name: str) -> EventType[Any]:
    try:
        return _declared[name]
    except KeyError:
        raise InvalidEvent(f"event {name!r} is not declared in any domain's events.py") from None


def declared() -> dict[str, EventType[Any]]:
    return dict(_declared)
