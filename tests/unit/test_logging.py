from __future__ import annotations

import io
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from topsmile.core import logging as core_logging
from topsmile.core.context import begin_request, new_request_id
from topsmile.core.logging import JsonFormatter, log_access, redact, redact_text, timestamp


def test_secrets_are_redacted_by_key() -> None:
    cleaned = redact({"password": "hunter2", "refreshToken": "abc", "Cookie": "x=1", "name": "Ana"})
    assert cleaned == {
        "password": "[redacted]",
        "refreshToken": "[redacted]",
        "Cookie": "[redacted]",
        "name": "Ana",
    }


def test_personal_data_is_masked_in_text() -> None:
    text = redact_text(
        "mail ana.souza@example.com phone +55 11 98765-4321 card 4242 4242 4242 4242"
    )
    assert "ana.souza@example.com" not in text
    assert "98765" not in text
    assert "4242 4242" not in text
    assert "@example.com" in text


def test_jwt_is_redacted() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_def"
    assert token not in redact_text(f"bearer {token}")


def test_timestamps_and_ids_are_left_alone() -> None:
    assert (
        redact_text("at 2026-11-22T00:00:00 id 2026-11-22")
        == "at 2026-11-22T00:00:00 id 2026-11-22"
    )


def test_json_lines_carry_the_request_id() -> None:
    begin_request("req-42")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.email = "someone@example.com"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello x"
    assert line["requestId"] == "req-42"
    assert "someone@example.com" not in line["email"]


def test_the_access_line_is_the_formatters_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`log_access` writes without a LogRecord: the same fields, order and redaction as
    JsonFormatter gives `access_log.info("request", extra=…)`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    caplog.set_level(logging.INFO, logger="topsmile.access")
    monkeypatch.setattr(core_logging, "_handler", handler)
    context = begin_request("req-7")
    context.user_id, context.clinic_id = str(uuid.uuid4()), str(uuid.uuid4())
    fields: dict[str, Any] = {
        "method": "GET",
        "route": "/api/users/ana.souza@example.com/eyJa.eyJb.c",
        "status": 404,
        "durationMs": 1.25,
        "userId": context.user_id,
        "clinicId": context.clinic_id,
    }
    log_access("req-7", *fields.values())
    fast = json.loads(stream.getvalue())
    record = logging.LogRecord("topsmile.access", logging.INFO, "", 0, "request", None, None)
    record.__dict__.update(fields)
    slow = json.loads(JsonFormatter().format(record))
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {
        k: v for k, v in slow.items() if k != "ts"
    }
    assert "ana.souza@" not in fast["route"]
    assert "eyJa" not in fast["route"]
    assert fast["requestId"] == "req-7"


def test_the_access_line_follows_the_logging_configuration(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Logging configured some other way (here pytest's capture) still gets the line as a
    record; a level above INFO drops it."""
    monkeypatch.setattr(core_logging, "_handler", None)
    with caplog.at_level(logging.INFO, logger="topsmile.access"):
        log_access("req-8", "GET", "/api/health/live", 200, 0.5, None, None)
    [record] = [r for r in caplog.records if r.name == "topsmile.access"]
    assert (record.getMessage(), record.route, record.status) == (
        "request",
        "/api/health/live",
        200,
    )  # type: ignore[attr-defined]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="topsmile.access"):
        log_access("req-9", "GET", "/api/health/live", 200, 0.5, None, None)
    assert [r for r in caplog.records if r.name == "topsmile.access"] == []


def test_the_cached_timestamp_matches_isoformat_across_seconds() -> None:
    base = 1_796_000_000.0
    for step in range(5000):  # 0.37 ms apart: crosses many second boundaries
        when = base + step * 0.000_37 + (step % 7) * 0.9
        expected = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
        assert timestamp(when) == expected, when


def test_request_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = [new_request_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_the_access_lines_redaction_cache_keeps_no_long_path() -> None:
    """An unrouted path is the caller's: a flood of long distinct ones must not be kept."""
    core_logging._redacted_short.cache_clear()
    long = "/api/" + "x" * 300 + "/ana.souza@example.com"
    assert core_logging._redacted(long) == redact_text(long)
    assert "ana.souza" not in core_logging._redacted(long)
    assert core_logging._redacted_short.cache_info().currsize == 0
    assert core_logging._redacted("/api/health/live") == "/api/health/live"
    assert core_logging._redacted_short.cache_info().currsize == 1
