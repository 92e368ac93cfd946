"""The one clock. Tests move it to stand at any instant (DST days included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def travel(delta: timedelta) -> None:
    """Shift the clock by `delta` (tests only); `reset()` undoes it."""
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = timedelta(0)
