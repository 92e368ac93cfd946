"""Per-request context carried in a contextvar: request id and who is calling, for logs."""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass
class RequestContext:
    request_id: str
    user_id: str | None = None
    clinic_id: str | None = None
    route: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("topsmile_request", default=None)


# Request ids need to be unique, not secret: a process-wide generator seeded from the OS
# (once, and again in a forked child) instead of a system call per request.
_ids = random.Random()  # noqa: S311 - ids, not secrets
os.register_at_fork(after_in_child=_ids.seed)


def new_request_id() -> str:
    """32 random hex digits."""
    return f"{_ids.getrandbits(128):032x}"


def accept_request_id(candidate: str | None) -> str:
    """The caller's id when it is 1-128 chars of [A-Za-z0-9._-], else a fresh one."""
    if candidate and _REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


def begin_request(request_id: str) -> RequestContext:
    context = RequestContext(request_id=request_id)
    _current.set(context)
    return context


def current() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str:
    context = _current.get()
    return context.request_id if context else ""
