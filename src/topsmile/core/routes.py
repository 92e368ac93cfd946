"""The route decorators every controller uses: Litestar's, with guards called on the handler
itself.

Litestar's `authorize_connection` passes each guard a `copy()` of the route handler, so a
guard could not change what other requests see; copying the handler's ~60 attributes was
the largest single cost of a signed-in request (docs/PERFORMANCE.md "Request path"). Our
guards (auth/principal.py, auth/origin.py) only read the connection and never touch the
handler, so it is passed as it is. `tests/api/test_request_path.py` checks that every route
is declared with these.

They build the handler class Litestar's own `get`, `post`, ... build (those only fix the
method), without subclassing them: Litestar deprecates subclasses of those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler


class GuardedInPlace(HTTPRouteHandler):
    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)  # type: ignore[misc]


def _decorator(method: HttpMethod) -> Callable[..., GuardedInPlace]:
    def decorator(path: str | None = None, **options: Any) -> GuardedInPlace:
        return GuardedInPlace(path, http_method=method, **options)

    decorator.__name__ = method.value.lower()
    return decorator


get = _decorator(HttpMethod.GET)
post = _decorator(HttpMethod.POST)
put = _decorator(HttpMethod.PUT)
patch = _decorator(HttpMethod.PATCH)
delete = _decorator(HttpMethod.DELETE)
