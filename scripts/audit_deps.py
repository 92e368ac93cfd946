"""Audit every package pinned in uv.lock for known vulnerabilities (`python3 dev.py test` runs it).

    python3 scripts/audit_deps.py [--lock uv.lock] [--osv-url URL] [--pypi-url URL]

1. OSV (`POST /v1/querybatch`), when it answers: every pin is looked up, exactly.
2. Otherwise PyPI's project JSON (`GET /pypi/<name>/json`), which reports the known
   vulnerabilities of a project's LATEST release only (its per-release JSON is not served
   everywhere): a pin at the latest release is audited exactly, a pin behind it cannot be, and
   is listed as not audited, never counted as clean.

Exit codes: 0 nothing known (the coverage is printed), 1 a pinned release has a known
vulnerability, 2 no vulnerability source could be reached. Standard library only, so it runs
before any environment exists. Why two sources: docs/SECURITY.md "Dependency vulnerability
audit".
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Pin = tuple[str, str]  # (name, version)
Findings = dict[Pin, list[str]]  # pin -> vulnerability ids


def locked_pins(lock: Path) -> list[Pin]:
    """Every package uv.lock takes from a registry (not the project itself)."""
    packages = tomllib.loads(lock.read_text())["package"]
    return sorted((p["name"], p["version"]) for p in packages if "registry" in p.get("source", {}))


def _get_json(url: str, timeout: float, body: object | None = None) -> Any:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - checked above
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.load(response)


def osv_findings(pins: list[Pin], base: str, timeout: float) -> Findings | None:
    """Known vulnerabilities of each pin from OSV; None when OSV cannot be reached."""
    queries = [{"package": {"name": n, "ecosystem": "PyPI"}, "version": v} for n, v in pins]
    try:
        answer = _get_json(f"{base}/v1/querybatch", timeout, {"queries": queries})
    except (OSError, ValueError) as exc:
        print(f"audit: OSV unreachable ({exc}); falling back to PyPI", flush=True)
        return None
    results = answer["results"]
    if len(results) != len(pins):
        raise SystemExit(f"audit: OSV answered {len(results)} results for {len(pins)} pins")
    return {
        pin: [v["id"] for v in r.get("vulns", [])] for pin, r in zip(pins, results, strict=True)
    }


def _pypi_latest(pin: Pin, base: str, timeout: float) -> tuple[str, list[str]] | None:
    try:
        project = _get_json(f"{base}/pypi/{pin[0]}/json", timeout)
    except (OSError, ValueError):
        return None
    ids = [v["id"] for v in project.get("vulnerabilities", []) if not v.get("withdrawn")]
    return project["info"]["version"], ids


def pypi_findings(pins: list[Pin], base: str, timeout: float) -> tuple[Findings, list[str]]:
    """Findings for the pins at their latest release, and a note for every other pin."""
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda pin: _pypi_latest(pin, base, timeout), pins))
    findings: Findings = {}
    unaudited = []
    for pin, answer in zip(pins, answers, strict=True):
        if answer is None:
            unaudited.append(f"{pin[0]} {pin[1]} (PyPI did not answer)")
        elif answer[0] != pin[1]:
            unaudited.append(f"{pin[0]} {pin[1]} (latest is {answer[0]})")
        else:
            findings[pin] = answer[1]
    return findings, unaudited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=Path(__file__).parents[1] / "uv.lock")
    parser.add_argument("--osv-url", default="https://api.osv.dev")
    parser.add_argument("--pypi-url", default="https://pypi.org")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    pins = locked_pins(args.lock)
    findings = osv_findings(pins, args.osv_url, args.timeout)
    source, unaudited = "OSV", []
    if findings is None:
        findings, unaudited = pypi_findings(pins, args.pypi_url, args.timeout)
        source = "PyPI (latest releases only)"
        if not findings:
            print("audit: no vulnerability source answered; nothing was audited", flush=True)
            return 2
    vulnerable = {pin: ids for pin, ids in findings.items() if ids}
    print(f"audit: {len(findings)} of {len(pins)} pinned packages audited via {source}", flush=True)
    for line in unaudited:
        print(f"audit: not audited: {line}", flush=True)
    for (name, version), ids in sorted(vulnerable.items()):
        print(f"audit: VULNERABLE {name} {version}: {', '.join(ids)}", flush=True)
    if vulnerable:
        print("audit: fix with `uv lock --upgrade-package <name>` and a full test run", flush=True)
        return 1
    print("audit: no known vulnerability in the audited pins", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
