from __future__ import annotations

import json
import logging

from topsmile.core.context import begin_request
from topsmile.core.logging import JsonFormatter, redact, redact_text


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
