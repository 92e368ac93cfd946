"""The README's first command starts a working server, which stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], deadline: float, log_path: Path
) -> httpx.Response:
    while True:
        assert proc.poll() is None, f"server exited early:\n{log_path.read_text()[-3000:]}"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not become healthy"
        time.sleep(0.2)


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_as_the_readme_says(project_root: Path, tmp_path: Path, workers: int) -> None:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DATABASE_MIGRATION_URL", "REDIS_URL")
    }
    env["TOPSMILE_DATA_DIR"] = str(tmp_path / "data")
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")  # a pipe nobody reads while it runs could block the server
    proc = subprocess.Popen(
        [sys.executable, "dev.py", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=project_root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_healthy(
            f"http://127.0.0.1:{port}/api/health", proc, time.monotonic() + 120, log_path
        )
        assert health.json()["checks"]["database"]["status"] == "ok"
        assert health.json()["checks"]["redis"]["status"] == "ok"
        assert health.headers["x-request-id"]
        docs = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=5)
        assert docs.status_code == 200
        for _ in range(20):  # spread over the workers: every one shares the same stores
            assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        postgres_pid = int(
            (tmp_path / "data" / "postgres" / "postmaster.pid").read_text().split()[0]
        )
        redis_pid = int((tmp_path / "data" / "redis" / "redis.pid").read_text().strip())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    text = log_path.read_text()
    assert proc.returncode == 0, text
    assert f"http://127.0.0.1:{port}" in text
    assert f"http://127.0.0.1:{port}/schema" in text
    assert "Demo clinic 'sorriso'" in text  # an empty database gets the demo clinic
    assert "admin@sorriso.example.com" in text
    deadline = time.monotonic() + 20
    while psutil.pid_exists(postgres_pid) or psutil.pid_exists(redis_pid):
        assert time.monotonic() < deadline, "embedded servers were left running"
        time.sleep(0.1)
