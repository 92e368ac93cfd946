"""JSON structured logging with redaction of secrets and personal data."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from topsmile.core.context import current

_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|csrf|card|cvc|api[_-]?key|signature",
    re.IGNORECASE,
)
_PERSONAL_KEYS = re.compile(r"email|phone|recipient|to", re.IGNORECASE)
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+\d[\d\s().-]{6,16}\d")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# One scan that finds any of the four: most strings (every access-log field) have none, and
# one search is several times cheaper than four substitutions on the hot path.
_ANY = re.compile("|".join(f"(?:{p.pattern})" for p in (_JWT, _CARD, _EMAIL, _PHONE)))

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


def redact_text(text: str) -> str:
    if not _ANY.search(text):
        return text
    text = _JWT.sub("[redacted-token]", text)
    text = _CARD.sub("[redacted-number]", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group())[-2:], text)


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key):
        return "[redacted]"
    if key and _PERSONAL_KEYS.fullmatch(key) and isinstance(value, str):
        return value[:1] + "***" + value[-2:] if len(value) > 4 else "***"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


_second: tuple[int, str] = (-1, "")


def timestamp(when: float) -> str:
    """ISO 8601 in UTC to the millisecond, as `datetime.isoformat(timespec="milliseconds")`
    writes it, with the date and time formatted once per second: every access line needs
    one."""
    global _second
    whole = int(when)
    micros = round((when - whole) * 1e6)  # rounded to the microsecond first, as datetime does
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if whole != _second[0]:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{micros // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        context = current()
        if context is not None:
            entry["requestId"] = context.request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


access_log = logging.getLogger("topsmile.access")
_handler: logging.StreamHandler[Any] | None = None  # ours, once configure_logging() ran


class _AccessLine(msgspec.Struct):
    """The access line's fields, in the order JsonFormatter writes them."""

    ts: str
    level: str
    logger: str
    msg: str
    requestId: str
    method: str
    route: str
    status: int
    durationMs: float
    userId: str | None
    clinicId: str | None


_encode = msgspec.json.Encoder().encode


def log_access(
    request_id: str,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    user_id: str | None,
    clinic_id: str | None,
) -> None:
    """One request's access line: what `access_log.info("request", extra=…)` would write
    through JsonFormatter (same fields, same redaction), without building a LogRecord and
    running the formatter and `json.dumps` on every request."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    handler = _handler
    if handler is None or handler not in logging.getLogger().handlers or access_log.handlers:
        # Logging configured some other way: let it decide where the line goes.
        fields = {"method": method, "route": route, "status": status, "durationMs": duration_ms}
        access_log.info("request", extra={**fields, "userId": user_id, "clinicId": clinic_id})
        return
    line = _AccessLine(
        ts=timestamp(time.time()),
        level="info",
        logger=access_log.name,
        msg="request",
        requestId=request_id,
        method=_redacted(method),
        route=_redacted(route),
        status=status,
        durationMs=duration_ms,
        userId=_redacted(user_id) if user_id is not None else None,
        clinicId=_redacted(clinic_id) if clinic_id is not None else None,
    )
    text = _encode(line).decode() + "\n"
    try:
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(text)
            handler.stream.flush()
    except Exception:  # a closed or broken stream: logging's own path reports it
        fields = {"method": method, "route": route, "status": status, "durationMs": duration_ms}
        access_log.info("request", extra={**fields, "userId": user_id, "clinicId": clinic_id})


# The access line's fields repeat (methods, route templates, the ids of active users): their
# redaction is remembered. Only short ones: an unrouted path is the caller's, and a flood of
# long distinct paths must not fill the cache (4,096 x 2 x 256 bytes at most); it only
# evicts entries.
_redacted_short = functools.lru_cache(maxsize=4096)(redact_text)


def _redacted(text: str) -> str:
    return _redacted_short(text) if len(text) <= 256 else redact_text(text)


def configure_logging(level: str = "INFO") -> None:
    global _handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    _handler = handler
    # Our lines carry no file/line: skip the stack walk logging does for every record
    # (the documented switch; it is a measurable share of a small request's cost).
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "litestar"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
