"""Document the problem responses of every operation, derived from what the route does."""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import HTTP_204_NO_CONTENT

from topsmile.core.errors import Problem

_DESCRIPTIONS = {
    400: (
        "validation-error",
        "The request is not valid (malformed JSON, wrong types, unknown fields, bad values)",
    ),
    401: ("unauthenticated", "No session, or it expired or was revoked"),
    403: (
        "forbidden",
        "Your role may not do this, the CSRF token is missing, or a session-less endpoint"
        " was called from another site",
    ),
    404: ("not-found", "No such resource in your clinic"),
    409: ("conflict", "A duplicate or a state conflict"),
    413: ("payload-too-large", "The body is over the limit"),
    415: ("unsupported-media-type", "The body was not sent as application/json"),
    422: (
        "not-bookable",
        "Well-formed but refused by a rule (not a valid slot, inside the cancellation window,"
        " an Idempotency-Key reused for another body)",
    ),
    429: ("rate-limited", "Throttled; see Retry-After"),
    500: ("internal", "Unexpected error (no internals are disclosed)"),
    503: ("service-unavailable", "A dependency is down or not configured; see Retry-After"),
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Litestar documents a `Response(None, status_code=204)` as an application/json null; a 204
# has no body at all, and a client that trusts the document would try to parse one.
_NO_CONTENT = ResponseSpec(data_container=None, description="Done; nothing follows")


def _spec(status: int) -> ResponseSpec:
    code, description = _DESCRIPTIONS[status]
    example = {
        "type": f"/problems/{code}",
        "title": description.split(" (")[0],
        "status": status,
        "detail": description,
        "requestId": "3f1c0a6e9b2d4c7f8e5a1b0c9d8e7f6a",
    }
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type="application/problem+json",
        examples=[Example(summary=code, value=example)],
    )


def problem_response(status: int) -> ResponseSpec:
    """One documented problem response, for a route whose path does not show it (e.g. a 404
    for an id given in the query string)."""
    return _spec(status)


def _statuses(handler: HTTPRouteHandler, path: str) -> set[int]:
    statuses = {429, 500}
    if handler.resolve_guards():  # a controller's or router's guards count too
        statuses |= {401, 403}
    if path.startswith("/api/auth"):
        statuses.add(401)  # bad credentials, expired or reused tokens
    if "{" in path:
        statuses.add(404)
    if handler.http_methods & _UNSAFE:
        statuses |= {400, 413}
    if handler.http_methods & {"POST", "PATCH", "PUT"}:
        statuses.add(409)
    if handler.parsed_fn_signature.parameters:
        statuses.add(400)
    if "data" in handler.parsed_fn_signature.parameters:
        statuses.add(415)
    return statuses


def document_problems(app: Litestar) -> None:
    """Add the problem responses each route can give to its OpenAPI operation."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            documented = {status: _spec(status) for status in _statuses(handler, route.path)}
            if handler.status_code == HTTP_204_NO_CONTENT:
                documented[HTTP_204_NO_CONTENT] = _NO_CONTENT
            handler.responses = {**documented, **(handler.responses or {})}
