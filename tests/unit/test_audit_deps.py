"""scripts/audit_deps.py against a local server speaking OSV's querybatch and PyPI's project
JSON: a known vulnerability fails the run, a pin it cannot audit is named and never counted
clean, and with no source at all nothing passes."""

from __future__ import annotations

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback import LoopbackServer
from tests.support.serve import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_deps.py"
LOCK = """
version = 1
[[package]]
name = "topsmile"
version = "0.1.0"
source = { editable = "." }
[[package]]
name = "alpha"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
[[package]]
name = "beta"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
"""


class Advisories(LoopbackServer):
    """OSV's `/v1/querybatch` and PyPI's `/pypi/<name>/json` over the same data: `vulns`
    maps (name, version) to advisory ids, `latest` each project's newest release."""

    def __init__(self, vulns: dict[tuple[str, str], list[str]], latest: dict[str, str]) -> None:
        super().__init__()
        self.vulns, self.latest = vulns, latest
        self.osv_queries: list[Any] = []

    def _server(self) -> ThreadingHTTPServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                queries = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.osv_queries.extend(queries["queries"])
                results = [
                    {
                        "vulns": [
                            {"id": i}
                            for i in outer.vulns.get((q["package"]["name"], q["version"]), [])
                        ]
                    }
                    for q in queries["queries"]
                ]
                self._send(200, {"results": results})

            def do_GET(self) -> None:
                name = self.path.split("/")[2]
                version = outer.latest[name]
                ids = outer.vulns.get((name, version), [])
                vulns = [{"id": i, "withdrawn": None} for i in ids]
                vulns.append({"id": "WITHDRAWN-1", "withdrawn": "2026-01-01T00:00:00"})
                self._send(200, {"info": {"version": version}, "vulnerabilities": vulns})

            def log_message(self, *args: object) -> None:
                pass

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(LOCK)
    return path


def _audit(lock: Path, osv: str, pypi: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--lock", str(lock), "--osv-url", osv]
    command += ["--pypi-url", pypi, "--timeout", "5"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_osv_finds_a_vulnerable_pin_and_fails(lock: Path) -> None:
    with Advisories({("beta", "2.0"): ["GHSA-beta"]}, {"alpha": "1.0", "beta": "3.0"}) as server:
        run = _audit(lock, server.base_url, server.base_url)
    assert run.returncode == 1, run.stdout
    assert "VULNERABLE beta 2.0: GHSA-beta" in run.stdout
    assert "2 of 2 pinned packages audited via OSV" in run.stdout
    assert {q["package"]["name"] for q in server.osv_queries} == {
        "alpha",
        "beta",
    }  # not the project


def test_osv_clean_passes(lock: Path) -> None:
    with Advisories({("beta", "1.0"): ["OLD"]}, {"alpha": "1.0", "beta": "2.0"}) as server:
        run = _audit(lock, server.base_url, server.base_url)
    assert run.returncode == 0, run.stdout
    assert "no known vulnerability" in run.stdout


def test_without_osv_pypi_audits_latest_pins_and_names_the_rest(lock: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with Advisories({("alpha", "1.0"): ["PYSEC-alpha"]}, {"alpha": "1.0", "beta": "3.0"}) as server:
        run = _audit(lock, closed, server.base_url)
    assert run.returncode == 1, run.stdout
    assert "OSV unreachable" in run.stdout
    assert "1 of 2 pinned packages audited via PyPI" in run.stdout
    assert "not audited: beta 2.0 (latest is 3.0)" in run.stdout
    assert "VULNERABLE alpha 1.0: PYSEC-alpha" in run.stdout
    assert "WITHDRAWN" not in run.stdout


def test_without_osv_a_clean_latest_pin_passes_and_withdrawn_advisories_do_not_count(
    lock: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with Advisories({}, {"alpha": "1.0", "beta": "2.0"}) as server:
        run = _audit(lock, closed, server.base_url)
    assert run.returncode == 0, run.stdout
    assert "2 of 2 pinned packages audited via PyPI" in run.stdout


def test_with_no_source_nothing_passes(lock: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    run = _audit(lock, closed, closed)
    assert run.returncode == 2, run.stdout
    assert "nothing was audited" in run.stdout
