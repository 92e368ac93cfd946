"""What every request pays for: nothing on the request path hops to a worker thread."""

from __future__ import annotations

import inspect

from litestar.routes import HTTPRoute

from topsmile.core.middleware import EdgeMiddleware


def test_no_guard_or_handler_runs_in_a_worker_thread(app: EdgeMiddleware) -> None:
    """Litestar runs a plain `def` guard, and a `def` handler marked `sync_to_thread`, in a
    thread pool: a hand-off (and GIL contention) on every call of every route."""
    threaded = []
    for route in app.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            guards = handler.resolve_guards()
            threaded += [
                f"{route.path} guard {guard!r}"
                for guard in guards
                if not inspect.iscoroutinefunction(guard)
            ]
            if handler.has_sync_callable and handler.sync_to_thread:
                threaded.append(f"{route.path} handler {handler.handler_name}")
    assert threaded == []
