"""The in-process bus: handlers subscribe by event name and are looked up by their own name.

Which handlers an event goes to is decided when it is published (one delivery row per
subscribed handler), so every process that publishes or relays must build the same bus:
`topsmile.wiring.build_bus` is the one place that does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from topsmile.events.types import Event

ALL_EVENTS = "*"

Handle = Callable[[Event, int], Awaitable[None]]
"""Deliver `event` (on attempt number n, from 1). Runs inside the event clinic's transaction,
which also records the delivery: database writes here happen exactly once."""

OnFailure = Callable[[Event, BaseException, int, bool], Awaitable[None]]
"""Called in a fresh transaction after a failed attempt: (event, error, attempt, dead)."""


@dataclass(frozen=True)
class Subscription:
    handler: str
    events: frozenset[str]
    handle: Handle
    on_failure: OnFailure | None = None

    def wants(self, event_name: str) -> bool:
        return ALL_EVENTS in self.events or event_name in self.events


class Bus:
    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}

    def subscribe(
        self,
        handler: str,
        events: Iterable[str],
        handle: Handle,
        on_failure: OnFailure | None = None,
    ) -> None:
        if handler in self._subscriptions:
            raise ValueError(f"handler {handler!r} is already subscribed")
        self._subscriptions[handler] = Subscription(handler, frozenset(events), handle, on_failure)

    def handlers_for(self, event_name: str) -> list[str]:
        return [s.handler for s in self._subscriptions.values() if s.wants(event_name)]

    def subscription(self, handler: str) -> Subscription:
        return self._subscriptions[handler]

    @property
    def handler_names(self) -> list[str]:
        return list(self._subscriptions)


_installed: Bus | None = None


def install(bus: Bus) -> None:
    """Make `bus` the process's bus (the app and the worker do this at start)."""
    global _installed
    _installed = bus


def installed() -> Bus:
    if _installed is None:
        raise RuntimeError("no event bus installed in this process")
    return _installed
