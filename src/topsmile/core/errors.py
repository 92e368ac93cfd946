"""One exception hierarchy for the domain, mapped to RFC 9457 problem details in one place."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from topsmile.core import db
from topsmile.core.constraints import constraint_problem
from topsmile.core.context import current_request_id

log = logging.getLogger("topsmile.errors")

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    requestId: str
    errors: list[FieldError] | None = None
    conflicts: list[str] | None = None


class AppError(Exception):
    """Base of every error the API answers on purpose."""

    status = 500
    code = "internal"
    title = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        conflicts: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.conflicts = conflicts
        self.headers = headers or {}


class ValidationError(AppError):
    status, code, title = 400, "validation-error", "The request is not valid"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationError:
        return cls(message, errors=[FieldError(field, message)])


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class EmailNotVerified(AppError):
    status, code, title = 403, "email-not-verified", "Verify your email first"


class NotFound(AppError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class SlotUnavailable(AppError):
    status, code, title = 409, "slot-unavailable", "This time is taken"


class InvalidTransition(AppError):
    status, code, title = 409, "invalid-transition", "Status change not allowed"


class RequestInProgress(AppError):
    status, code, title = 409, "request-in-progress", "The same request is still being processed"


class NotBookable(AppError):
    status, code, title = 422, "not-bookable", "This time cannot be booked"


class CancellationWindow(AppError):
    status, code, title = 422, "cancellation-window", "Too close to the appointment"


class NothingToPay(AppError):
    status, code, title = 422, "nothing-to-pay", "Nothing to pay"


class IdempotencyKeyReused(AppError):
    status, code, title = 422, "idempotency-key-reused", "Idempotency-Key used for another request"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


class RateLimited(AppError):
    status, code, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


_BY_CODE: dict[str, type[AppError]] = {
    kind.code: kind for kind in (ValidationError, NotFound, Conflict, SlotUnavailable)
}

# Statuses Litestar raises by itself, mapped to the contract's codes.
_HTTP_CODES = {
    400: ("validation-error", "The request is not valid"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
    503: ("service-unavailable", "Service unavailable"),
}

_encoder = msgspec.json.Encoder()


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    conflicts: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    body = Problem(
        type=f"/problems/{code}",
        title=title,
        status=status,
        detail=detail,
        requestId=current_request_id(),
        errors=errors,
        conflicts=conflicts,
    )
    return Response(
        content=_encoder.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


def _camel(name: str) -> str:
    """Litestar names query parameters by their Python names; the wire uses camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    extra: Any = exc.extra
    if not isinstance(extra, list):
        return [FieldError("body", exc.detail)]
    errors = []
    for item in extra:
        if isinstance(item, dict):
            key = _camel(str(item.get("key") or item.get("source") or "body"))
            errors.append(FieldError(key, str(item.get("message", "invalid value"))))
    return errors or [FieldError("body", exc.detail)]


def _constraint_response(
    request: Request[Any, Any, Any], exc: asyncpg.IntegrityConstraintViolationError
) -> Response[bytes]:
    """A write the database refused (its transaction has rolled back): the same answer the
    service's own check gives, looked up by constraint name in one table."""
    problem = constraint_problem(exc)
    log.warning(
        "write refused by a constraint",
        extra={"path": request.url.path, "constraint": getattr(exc, "constraint_name", None)},
    )
    kind = _BY_CODE[problem.code]
    errors = [FieldError(problem.field, problem.message)] if problem.status == 400 else None
    return problem_response(problem.status, kind.code, kind.title, problem.message, errors=errors)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, AppError):
        return problem_response(
            exc.status,
            exc.code,
            exc.title,
            exc.detail,
            errors=exc.errors,
            conflicts=exc.conflicts,
            headers=exc.headers,
        )
    if db.is_unavailable(exc):
        log.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
        return problem_response(
            503,
            "service-unavailable",
            "Service unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return _constraint_response(request, exc)
    if isinstance(exc, asyncpg.exceptions.TransactionRollbackError):
        # PostgreSQL rolled the transaction back to settle a collision with a concurrent one
        # (a deadlock, a serialization failure): nothing was written, and a retry may pass.
        log.warning("transaction rolled back by a collision", extra={"path": request.url.path})
        return problem_response(
            409,
            Conflict.code,
            Conflict.title,
            "The request collided with a concurrent change and was not applied; retry it.",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, asyncpg.DataError):
        # A value PostgreSQL cannot take (a NUL character, an out-of-range number or date):
        # the client's input, and the transaction has rolled back.
        message = "A value in the request cannot be stored (e.g. a NUL character)."
        return problem_response(
            400,
            "validation-error",
            "The request is not valid",
            message,
            errors=[FieldError("body", message)],
        )
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        return problem_response(
            400, "validation-error", "The request is not valid", errors[0].message, errors=errors
        )
    if isinstance(exc, HTTPException) and exc.status_code in _HTTP_CODES:
        code, title = _HTTP_CODES[exc.status_code]
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            field_errors = [FieldError("body", exc.detail)]
            return problem_response(400, code, title, exc.detail, errors=field_errors)
        return problem_response(exc.status_code, code, title, title, headers=headers)
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        500, "internal", "Internal server error", "Something went wrong on our side."
    )
